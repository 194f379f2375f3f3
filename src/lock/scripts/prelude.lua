-- Shared by every lock script. KEYS: 1 owner (hash: token, fence; PX lease),
-- 2 fence (the last number handed out: fencing tokens and queue order; expires with the
-- rest), 3 queue (zset waiter -> arrival), 4 waiters (hash waiter -> "live_until_ms:ttl_ms"),
-- 5 releases (zset "token:attempt" -> forget at, Redis ms: recent Release calls). All five share one hash tag. Every key has a TTL, so a name nobody uses leaves nothing.
-- `PUBLISH_CMD` (PUBLISH, or SPUBLISH on Redis Cluster) is defined by the line above this.
local owner, fence_key, queue, waiters, released = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remembers the Release call `call` ("token:attempt") in the zset `key` for `ms`, so that a
-- re-run of that call (a re-sent script, a retry after a lost answer) answers as its first
-- run did, however many other holders released meanwhile. Bounded: entries past their time
-- go, and at most the newest 1,024 stay.
local function remember_release(key, now, call, ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, now + ms, call)
  redis.call('ZREMRANGEBYRANK', key, 0, -1025)
  redis.call('PEXPIRE', key, ms)
end

-- Whether the Release call `call` ran and released within its remembered time.
local function was_released(key, now, call)
  local forget_at = redis.call('ZSCORE', key, call)
  return forget_at and tonumber(forget_at) > now
end

-- The next fencing token (also used as a queue position): max(previous + 1, Redis TIME in
-- microseconds). The clock term keeps tokens rising when the previous one is gone (the key
-- expired, Redis restarted without persistence, a failover lost the last writes), so the
-- key need not outlive the lock. Each script takes over a microsecond, so the counter never
-- runs ahead of the clock by more than a few units. Integers below 2^53 are exact in Lua;
-- '%.0f' keeps Redis from writing them in exponent form.
local function next_fence()
  local t = redis.call('TIME')
  local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local prev = tonumber(redis.call('GET', fence_key) or '0') or 0
  local fence = math.max(prev + 1, clock)
  redis.call('SET', fence_key, string.format('%.0f', fence), 'KEEPTTL')
  return fence
end

-- Keeps the fence key at least `ms` longer, so it lives as long as the lease or queue that
-- its last number went to, and no longer.
local function keep_fence(ms)
  local left = redis.call('PTTL', fence_key)
  if left ~= -2 and left < tonumber(ms) then
    redis.call('PEXPIRE', fence_key, ms)
  end
end

-- Tells the waiter now at the head of the queue when the holder's lease ends
-- ("token:0:pttl_ms"), so that it notices an expiry within milliseconds (only the head times
-- its re-check to the lease; the others re-check lazily). A negative pttl (no holder) reads
-- as "re-check now".
local function nudge_head(channel, holder_pttl)
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if head then
    redis.call(PUBLISH_CMD, channel, head .. ':0:' .. holder_pttl)
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
        local fence = next_fence()
        local shown = string.format('%.0f', fence)
        redis.call('HSET', owner, 'token', head, 'fence', shown)
        redis.call('PEXPIRE', owner, ttl)
        keep_fence(tonumber(ttl))
        redis.call(PUBLISH_CMD, channel, head .. ':' .. shown .. ':' .. ttl)
        nudge_head(channel, ttl)
        return head, fence, tonumber(ttl)
      end
    end
  end
end
