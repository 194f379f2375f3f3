-- ARGV: 1 channel, 2 token (also the waiter id), 3 ttl_ms, 4 join (0/1),
-- 5 waiter_lease_ms, 6 max_waiters.
-- Returns {1, fence, pttl} granted | {0, holder_pttl, rank} busy (rank -1 = not queued)
-- | {-1} queue full | {-2, kind code} the name is a semaphore or read-write lock now.
local channel, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local join, lease, max_waiters = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()

-- KEYS[6] is the name's semaphore/read-write state (permits_prelude.lua): while it exists
-- the name is that kind.
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {-2, tonumber(redis.call('HGET', KEYS[6], 'kind') or '0')}
end

local holder = redis.call('HGET', owner, 'token')
if not holder then
  -- Free: whoever queues first has precedence over this caller.
  holder = hand_off(now, channel)
  if not holder then
    local fence = next_fence()
    redis.call('HSET', owner, 'token', token, 'fence', string.format('%.0f', fence))
    redis.call('PEXPIRE', owner, ttl)
    keep_fence(ttl)
    return {1, fence, ttl}
  end
end
if holder == token then
  -- Ours: granted just now, or handed to us while our notification was on its way.
  redis.call('ZREM', queue, token)
  redis.call('HDEL', waiters, token)
  return {1, tonumber(redis.call('HGET', owner, 'fence')), redis.call('PTTL', owner)}
end
if not join then
  return {0, redis.call('PTTL', owner), -1}
end
if not redis.call('ZSCORE', queue, token) then
  if redis.call('ZCARD', queue) >= max_waiters then
    return {-1}
  end
  redis.call('ZADD', queue, string.format('%.0f', next_fence()), token)
end
redis.call('HSET', waiters, token, (now + lease) .. ':' .. ttl)
-- The queue outlives its waiters only by a lease: a crashed server's entries go away.
redis.call('PEXPIRE', queue, lease * 2)
redis.call('PEXPIRE', waiters, lease * 2)
keep_fence(lease * 2)
return {0, redis.call('PTTL', owner), redis.call('ZRANK', queue, token)}
