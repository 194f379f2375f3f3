-- Shared by every lock script. KEYS: 1 owner (hash: token, fence; PX lease),
-- 2 fence (counter: fencing tokens and queue order), 3 queue (zset waiter -> arrival),
-- 4 waiters (hash waiter -> "live_until_ms:ttl_ms"). All four share one hash tag.
local owner, fence_key, queue, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Tells the waiter now at the head of the queue when the holder's lease ends
-- ("token:0:pttl_ms"), so that it notices an expiry within milliseconds (only the head times
-- its re-check to the lease; the others re-check lazily). A negative pttl (no holder) reads
-- as "re-check now".
local function nudge_head(channel, holder_pttl)
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if head then
    redis.call('PUBLISH', channel, head .. ':0:' .. holder_pttl)
  end
end

-- Grants the free lock to the first waiter whose entry is still alive (its server keeps
-- refreshing it), dropping dead entries on the way, and tells its server on the lock's
-- channel with the grant itself ("token:fence:ttl_ms"), so that its server answers the waiter
-- without a confirming round trip. O(1) work per hand-off however many wait. Returns the new
-- holder's token, fence and lease (ms), or false.
local function hand_off(now, channel)
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then
      return false
    end
    redis.call('ZREM', queue, head)
    local entry = redis.call('HGET', waiters, head)
    redis.call('HDEL', waiters, head)
    if entry then
      local live, ttl = string.match(entry, '^(%d+):(%d+)$')
      if live and tonumber(live) >= now then
        local fence = redis.call('INCR', fence_key)
        redis.call('HSET', owner, 'token', head, 'fence', fence)
        redis.call('PEXPIRE', owner, ttl)
        redis.call('PUBLISH', channel, head .. ':' .. fence .. ':' .. ttl)
        nudge_head(channel, ttl)
        return head, fence, tonumber(ttl)
      end
    end
  end
end
