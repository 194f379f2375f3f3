-- ARGV: 1 channel, 2 token, 3 attempt (unique per Release call), 4 remember_ms.
-- Returns {0} when the token did not hold the lock; {1} when it did and the lock is now free;
-- {1, next_token, fence, ttl_ms} when it was handed straight to the next waiter (the
-- caller's server may answer that waiter at once if it is its own).
if redis.call('HGET', owner, 'token') ~= ARGV[2] then
  -- The Redis Cluster client re-sends a script whose answer it lost (a timeout, a dropped
  -- connection): the same attempt finds its own record and answers as the first run did.
  -- A second Release call is another attempt, and hears {0}.
  if redis.call('GET', released) == ARGV[2] .. ':' .. ARGV[3] then
    return {1}
  end
  return {0}
end
redis.call('DEL', owner)
redis.call('SET', released, ARGV[2] .. ':' .. ARGV[3], 'PX', ARGV[4])
local head, fence, ttl = hand_off(now_ms(), ARGV[1])
if head then
  return {1, head, fence, ttl}
end
return {1}
