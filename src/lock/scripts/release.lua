-- ARGV: 1 channel, 2 token. Returns {0} when the token did not hold the lock; {1} when it
-- did and the lock is now free; {1, next_token, fence, ttl_ms} when it was handed straight to
-- the next waiter (the caller's server may answer that waiter at once if it is its own).
if redis.call('HGET', owner, 'token') ~= ARGV[2] then
  return {0}
end
redis.call('DEL', owner)
local head, fence, ttl = hand_off(now_ms(), ARGV[1])
if head then
  return {1, head, fence, ttl}
end
return {1}
