-- One decision of the failed-login throttle, atomic on the server: the same rules as
-- FailureRecord (src/throttle/record.rs), applied to both keys of one attempt.
--
-- KEYS[1]: the address-and-user record; KEYS[2]: the address record (one hash tag, so
-- one slot on a Cluster). Each is a hash: f failures, s strikes (locks in a row),
-- l locked until, e expires at, p reservations, pu reservations void at; times in Unix
-- seconds of the layer's clock, never the server's.
-- ARGV[1]: reserve | fail | succeed | void | lock. ARGV[2]: now.
-- ARGV[3..6]: the address-and-user limit (max failures, window, first lock, longest
-- lock); ARGV[7..10]: the address limit; ARGV[11]: how long a reservation holds.
-- Returns { wait } for reserve (0: admitted) and lock (0: not locked); { lock of the
-- user key, lock of the address key } for fail (0: none started); { 0, 0 } otherwise.
local op = ARGV[1]
local now = tonumber(ARGV[2])
local hold = tonumber(ARGV[11])

local function limit(at)
  return { max = tonumber(ARGV[at]), window = tonumber(ARGV[at + 1]),
           first = tonumber(ARGV[at + 2]), longest = tonumber(ARGV[at + 3]) }
end

local function load(key)
  local v = redis.call('HMGET', key, 'f', 's', 'l', 'e', 'p', 'pu')
  local r = { f = tonumber(v[1]) or 0, s = tonumber(v[2]) or 0, l = tonumber(v[3]) or 0,
              e = tonumber(v[4]) or 0, p = tonumber(v[5]) or 0, pu = tonumber(v[6]) or 0 }
  if now >= r.pu then r.p = 0 end
  if now >= r.e then r.f = 0; r.s = 0; r.l = 0 end
  return r
end

-- Writes the record back with a TTL of its expiry, or deletes it when it holds nothing.
local function save(key, r)
  local ends = r.e
  if r.p > 0 and r.pu > ends then ends = r.pu end
  if ends <= now or (r.f == 0 and r.s == 0 and r.p == 0 and r.l <= now) then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'f', r.f, 's', r.s, 'l', string.format('%.0f', r.l),
             'e', string.format('%.0f', r.e), 'p', r.p, 'pu', string.format('%.0f', r.pu))
  redis.call('EXPIRE', key, string.format('%d', math.min(ends - now, 2147483647)))
end

local function release(r)
  if r.p > 0 then r.p = r.p - 1 end
end

-- The wait before one more attempt may be checked; 0: it may.
local function wait(r, lim)
  if now < r.l then return r.l - now end
  local room = lim.max - r.f
  if r.s > 0 then room = 1 end
  if r.p >= room then return 1 end
  return 0
end

-- Counts one failure; returns the lock it starts (0: none).
local function fail(r, lim)
  if now >= r.e then r.e = now + lim.window end
  if r.s == 0 then
    r.f = r.f + 1
    if r.f < lim.max then return 0 end
  end
  r.s = r.s + 1
  local lock = math.min(lim.first * 2 ^ math.min(r.s - 1, 63), lim.longest)
  r.l = math.max(r.l, now + lock)
  r.e = r.l + lim.window
  return lock
end

-- Redis turns numbers into 64-bit integers: keep them exact.
local function int(x)
  return math.min(x, 9007199254740992)
end

local user, address = load(KEYS[1]), load(KEYS[2])
local per_user, per_address = limit(3), limit(7)

if op == 'lock' then
  return { int(math.max(user.l - now, address.l - now, 0)) }
elseif op == 'reserve' then
  local w = wait(user, per_user)
  if w == 0 then w = wait(address, per_address) end
  if w > 0 then return { int(w) } end
  user.p = user.p + 1
  user.pu = now + hold
  address.p = address.p + 1
  address.pu = now + hold
  save(KEYS[1], user)
  save(KEYS[2], address)
  return { 0 }
end

release(user)
release(address)
local locks = { 0, 0 }
if op == 'fail' then
  locks = { int(fail(user, per_user)), int(fail(address, per_address)) }
elseif op == 'succeed' then
  user.f = 0; user.s = 0; user.l = 0; user.e = 0
elseif op ~= 'void' then
  return redis.error_reply('unknown throttle operation')
end
save(KEYS[1], user)
save(KEYS[2], address)
return locks
