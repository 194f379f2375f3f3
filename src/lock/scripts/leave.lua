-- A waiter whose caller went away. ARGV: 1 channel, 2 token. Removes its queue entry; if
-- the lock was handed to it meanwhile, releases it to the next waiter. Returns 1 then, else 0.
local token = ARGV[2]
local was_head = redis.call('ZRANK', queue, token) == 0
redis.call('ZREM', queue, token)
redis.call('HDEL', waiters, token)
if redis.call('HGET', owner, 'token') ~= token then
  if was_head then
    nudge_head(ARGV[1], redis.call('PTTL', owner))
  end
  return 0
end
redis.call('DEL', owner)
hand_off(now_ms(), ARGV[1])
return 1
