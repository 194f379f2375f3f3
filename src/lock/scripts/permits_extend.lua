-- ARGV: 1 token, 2 ttl_ms, 3 channel. Returns the new lease in ms when the token holds a
-- grant, else 0. Grants that expired meanwhile are ended and their permits handed on.
local now = now_ms()
expire_holders(now)
local held = redis.call('HEXISTS', pgrants, ARGV[1]) == 1
if held then
  redis.call('ZADD', pholders, now + tonumber(ARGV[2]), ARGV[1])
end
hand_off(now, ARGV[3])
settle(now)
if held then
  return tonumber(ARGV[2])
end
return 0
