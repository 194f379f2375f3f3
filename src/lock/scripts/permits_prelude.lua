-- Shared by every semaphore and read-write script, after prelude.lua. KEYS (after the
-- mutex's five, whose holder and queue the acquire script checks so a name is one kind at a
-- time): 6 pstate (hash: kind = -1 never / 0 read-write / N semaphore of N, used = permits
-- held, lastw = 1 when the latest grant went to a writer), 7 pholders (zset token -> lease
-- end, Redis ms), 8 pgrants (hash token -> "weight:fence"), 9 pqueue (zset waiter ->
-- arrival), 10 pwaiters (hash waiter -> "live_until_ms:ttl_ms:weight:writer"),
-- 11 preleases (recent Release calls, as the mutex's releases). Every key expires with the last lease or
-- queue entry it carries (`settle`).
local pstate, pholders, pgrants = KEYS[6], KEYS[7], KEYS[8]
local pqueue, pwaiters, preleased = KEYS[9], KEYS[10], KEYS[11]

-- A read-write lock's capacity and a writer's weight (claim.rs RW_CAPACITY); a reader
-- weighs 1.
local RW_CAPACITY = 2147483648

local function capacity()
  local kind = tonumber(redis.call('HGET', pstate, 'kind') or '0')
  if kind == 0 then
    return RW_CAPACITY, true
  end
  return kind, false
end

local function used()
  return tonumber(redis.call('HGET', pstate, 'used') or '0')
end

-- Takes grant `token` out, giving its permits back. Returns whether it was there.
local function drop_grant(token)
  local g = redis.call('HGET', pgrants, token)
  redis.call('ZREM', pholders, token)
  if not g then
    return false
  end
  redis.call('HDEL', pgrants, token)
  redis.call('HINCRBY', pstate, 'used', -tonumber(string.match(g, '^(%d+):')))
  return true
end

-- Ends every grant whose lease ended by `now`: exactly those, each giving back its own
-- permits.
local function expire_holders(now)
  for _, token in ipairs(redis.call('ZRANGEBYSCORE', pholders, '-inf', now)) do
    drop_grant(token)
  end
end

-- A new grant to `token`: its fence, above every earlier grant of the name of any kind.
local function grant(token, weight, writer, ttl, now)
  local fence = next_fence()
  local shown = string.format('%.0f', fence)
  redis.call('HSET', pgrants, token, weight .. ':' .. shown)
  redis.call('ZADD', pholders, now + ttl, token)
  redis.call('HINCRBY', pstate, 'used', weight)
  redis.call('HSET', pstate, 'lastw', writer)
  keep_fence(ttl)
  return fence, shown
end

-- Ms until the soonest lease ends (-1: nobody holds).
local function soonest_pttl(now)
  local first = redis.call('ZRANGE', pholders, 0, 0, 'WITHSCORES')
  if first[2] then
    return math.max(tonumber(first[2]) - now, 0)
  end
  return -1
end

-- A queued waiter's entry, or nil when it lapsed (its server stopped refreshing it).
local function live_entry(waiter, now)
  local entry = redis.call('HGET', pwaiters, waiter)
  if not entry then
    return nil
  end
  local live, ttl, weight, writer = string.match(entry, '^(%d+):(%d+):(%d+):([01])$')
  if not live or tonumber(live) < now then
    return nil
  end
  return {ttl = tonumber(ttl), weight = tonumber(weight), writer = writer}
end

-- The grants this run handed to queued waiters, as {token, fence, ttl_ms, ...}: the release
-- script returns them so the releasing server answers a waiter of its own at once, without
-- waiting for the announcement's round trip through the subscription.
local served = {}

-- Grants queued `waiter` and tells its server on the channel ("token:fence:ttl_ms").
local function serve(waiter, e, now, channel)
  redis.call('ZREM', pqueue, waiter)
  redis.call('HDEL', pwaiters, waiter)
  local fence, shown = grant(waiter, e.weight, e.writer, e.ttl, now)
  redis.call(PUBLISH_CMD, channel, waiter .. ':' .. shown .. ':' .. e.ttl)
  table.insert(served, waiter)
  table.insert(served, fence)
  table.insert(served, e.ttl)
end

-- Grants every waiter the free permits now serve: after a write phase every queued reader
-- (phase-fair), then the head of the queue while it fits (FIFO: a large request is never
-- passed over). Lapsed entries are dropped on the way. The new head is told when the
-- soonest lease ends, so it re-checks then.
local function hand_off(now, channel)
  local cap, rw = capacity()
  if rw and used() == 0 and redis.call('HGET', pstate, 'lastw') == '1' then
    for _, waiter in ipairs(redis.call('ZRANGE', pqueue, 0, -1)) do
      local e = live_entry(waiter, now)
      if not e then
        redis.call('ZREM', pqueue, waiter)
        redis.call('HDEL', pwaiters, waiter)
      elseif e.writer == '0' then
        serve(waiter, e, now, channel)
      end
    end
  end
  while true do
    local head = redis.call('ZRANGE', pqueue, 0, 0)[1]
    if not head then
      return
    end
    local e = live_entry(head, now)
    if not e then
      redis.call('ZREM', pqueue, head)
      redis.call('HDEL', pwaiters, head)
    elseif used() + e.weight <= cap then
      serve(head, e, now, channel)
    else
      redis.call(PUBLISH_CMD, channel, head .. ':0:' .. soonest_pttl(now))
      return
    end
  end
end

-- Sets every key to expire with the last lease or the queue, or deletes them all when the
-- name is idle (so its kind is forgotten).
local function settle(now)
  local keep = 0
  local last = redis.call('ZRANGE', pholders, -1, -1, 'WITHSCORES')
  if last[2] then
    keep = tonumber(last[2]) - now
  end
  if redis.call('ZCARD', pqueue) > 0 then
    keep = math.max(keep, redis.call('PTTL', pqueue))
  end
  if keep <= 0 then
    redis.call('DEL', pstate, pholders, pgrants, pqueue, pwaiters)
    return
  end
  for _, key in ipairs({pstate, pholders, pgrants, pqueue, pwaiters}) do
    redis.call('PEXPIRE', key, keep)
  end
  keep_fence(keep)
end
