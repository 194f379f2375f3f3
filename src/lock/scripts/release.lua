-- ARGV: 1 channel, 2 token, 3 attempt (one per Release call, the same for its retries),
-- 4 remember_ms.
-- Returns {0} when the token did not hold the lock; {1} when it did and the lock is now free;
-- {1, next_token, fence, ttl_ms} when it was handed straight to the next waiter (the
-- caller's server may answer that waiter at once if it is its own).
local now = now_ms()
local call = ARGV[2] .. ':' .. ARGV[3]
if redis.call('HGET', owner, 'token') ~= ARGV[2] then
  -- A run of a Release call that already released (the Redis Cluster client re-sending a
  -- script whose answer it lost, the server retrying after a timeout) answers as the first
  -- run did. A second Release call is another attempt, and hears {0}.
  if was_released(released, now, call) then
    return {1}
  end
  return {0}
end
redis.call('DEL', owner)
remember_release(released, now, call, tonumber(ARGV[4]))
local head, fence, ttl = hand_off(now, ARGV[1])
if head then
  return {1, head, fence, ttl}
end
return {1}
