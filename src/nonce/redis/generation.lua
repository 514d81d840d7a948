-- KEYS[1]: a generation marker; ARGV[1]: a fresh generation, set if it is missing.
-- Returns the marker's generation.
local g = redis.call('GET', KEYS[1])
if not g then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return tonumber(g)
