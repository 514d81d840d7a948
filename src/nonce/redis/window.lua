-- KEYS[1]: the nonce's window; KEYS[2]: the generation marker of its hash tag (one slot);
-- KEYS[3]: the tag's count of ended accounts; KEYS[4]: the answering account's end mark
-- (the count when its logins were all ended), in the same slot.
-- ARGV[1], ARGV[2]: nc, high and low 32 bits; ARGV[3]: the TTL of a new window in ms;
-- ARGV[4]: the generation the nonce carries; ARGV[5]: a fresh generation, for a missing
-- marker. Returns 0 accepted, 1 replayed, 2 below the window, 3 its login ended, or minus
-- the marker's generation when the nonce carries another one (its window may have been
-- lost). A window is 24 bytes: highest nc, bitmap, and the ended-accounts count when the
-- nonce was first used (its login began); or 'ended' once its login was ended.
-- The marker is read when the window is missing: a window is created only under its
-- nonce's generation, after the marker, and Redis never loses a marker and keeps what
-- was written after it (a restart, a flush or a failover loses a suffix of the writes or
-- all of them), so a window that exists proves its nonce's generation still holds.
local v = redis.call('GET', KEYS[1])
local nc_hi, nc_lo = tonumber(ARGV[1]), tonumber(ARGV[2])
local word = 4294967296
if not v then
  local g = redis.call('GET', KEYS[2])
  if not g then
    redis.call('SET', KEYS[2], ARGV[5])
    return -tonumber(ARGV[5])
  end
  if g ~= ARGV[4] then return -tonumber(g) end
  local b = tonumber(redis.call('GET', KEYS[3]) or '0')
  redis.call('SET', KEYS[1], struct.pack('>I4I4I4I4I4I4', nc_hi, nc_lo, 0, 1,
    math.floor(b / word), b % word), 'PX', ARGV[3])
  return 0
end
if v == 'ended' then return 3 end
if #v ~= 24 and #v ~= 16 then
  return redis.error_reply('ERR tower-digest-auth: not a nonce window')
end
local h_hi, h_lo, s_hi, s_lo = struct.unpack('>I4I4I4I4', v)
-- A 16-byte window (written by an older version) began before any end.
local b_hi, b_lo = 0, 0
if #v == 24 then b_hi, b_lo = struct.unpack('>I4I4', v, 17) end
local e = redis.call('GET', KEYS[4])
if e and tonumber(e) > b_hi * word + b_lo then return 3 end
local d = (nc_hi - h_hi) * word + (nc_lo - h_lo)
if d > 0 then
  if d >= 64 then
    s_hi, s_lo = 0, 1
  elseif d >= 32 then
    s_hi, s_lo = bit.lshift(s_lo, d - 32) % word, 1
  else
    s_hi = bit.bor(bit.lshift(s_hi, d), bit.rshift(s_lo, 32 - d)) % word
    s_lo = bit.bor(bit.lshift(s_lo, d), 1) % word
  end
  h_hi, h_lo = nc_hi, nc_lo
else
  local below = -d
  if below >= 64 then return 2 end
  if below >= 32 then
    local b = bit.lshift(1, below - 32)
    if bit.band(s_hi, b) ~= 0 then return 1 end
    s_hi = bit.bor(s_hi, b) % word
  else
    local b = bit.lshift(1, below)
    if bit.band(s_lo, b) ~= 0 then return 1 end
    s_lo = bit.bor(s_lo, b) % word
  end
end
redis.call('SET', KEYS[1], struct.pack('>I4I4I4I4I4I4', h_hi, h_lo, s_hi, s_lo, b_hi, b_lo),
  'KEEPTTL')
return 0
