-- A waiter whose caller went away. ARGV: 1 channel, 2 token. Removes its queue entry; if it
-- was granted meanwhile, ends that grant. Either way the permits are handed on (the leaver
-- may have been a large head blocking smaller requests). Returns 1 when a grant was ended.
local now = now_ms()
expire_holders(now)
redis.call('ZREM', pqueue, ARGV[2])
redis.call('HDEL', pwaiters, ARGV[2])
local released = drop_grant(ARGV[2])
hand_off(now, ARGV[1])
settle(now)
if released then
  return 1
end
return 0
