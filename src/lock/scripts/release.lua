-- ARGV: 1 channel, 2 token. Returns 1 when the token held the lock (now handed on), else 0.
if redis.call('HGET', owner, 'token') ~= ARGV[2] then
  return 0
end
redis.call('DEL', owner)
hand_off(now_ms(), ARGV[1])
return 1
