-- ARGV: 1 channel, 2 token (also the waiter id), 3 ttl_ms, 4 join (0/1), 5 waiter_lease_ms,
-- 6 max_waiters, 7 kind code (0 read-write, N semaphore of N), 8 weight, 9 writer (0/1).
-- Returns {1, fence, pttl} granted | {0, soonest_pttl, rank} busy (rank -1 = not queued)
-- | {-1} queue full | {-2, kind code} the name is another kind (-1 = a mutex).
local channel, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local join, lease, max_waiters = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local kind, weight, writer = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local now = now_ms()

if redis.call('EXISTS', owner) == 1 or redis.call('ZCARD', queue) > 0 then
  return {-2, -1}
end
expire_holders(now)
local held_as = redis.call('HGET', pstate, 'kind')
if held_as and tonumber(held_as) ~= kind then
  if redis.call('ZCARD', pholders) > 0 or redis.call('ZCARD', pqueue) > 0 then
    return {-2, tonumber(held_as)}
  end
  -- Idle, its keys not yet expired: forget the old kind.
  redis.call('DEL', pstate, pholders, pgrants, pqueue, pwaiters)
  held_as = nil
end
if not held_as then
  redis.call('HSET', pstate, 'kind', kind, 'used', 0, 'lastw', 0)
end

local function ours()
  local g = redis.call('HGET', pgrants, token)
  if not g then
    return nil
  end
  redis.call('ZREM', pqueue, token)
  redis.call('HDEL', pwaiters, token)
  local fence = tonumber(string.match(g, ':(%d+)$'))
  return {1, fence, tonumber(redis.call('ZSCORE', pholders, token)) - now}
end

-- Ours already: handed to us while our notification was on its way.
local mine = ours()
if mine then
  return mine
end
hand_off(now, channel)
mine = ours()
if mine then
  settle(now)
  return mine
end
local cap = capacity()
if redis.call('ZCARD', pqueue) == 0 and used() + weight <= cap then
  local fence = grant(token, weight, writer, ttl, now)
  settle(now)
  return {1, fence, ttl}
end
if not join then
  settle(now)
  return {0, soonest_pttl(now), -1}
end
if not redis.call('ZSCORE', pqueue, token) then
  if redis.call('ZCARD', pqueue) >= max_waiters then
    settle(now)
    return {-1}
  end
  redis.call('ZADD', pqueue, string.format('%.0f', next_fence()), token)
end
redis.call('HSET', pwaiters, token, (now + lease) .. ':' .. ttl .. ':' .. weight .. ':' .. writer)
-- The queue outlives its waiters only by a lease: a crashed server's entries go away.
redis.call('PEXPIRE', pqueue, lease * 2)
redis.call('PEXPIRE', pwaiters, lease * 2)
settle(now)
return {0, soonest_pttl(now), redis.call('ZRANK', pqueue, token)}
