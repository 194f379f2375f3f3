-- ARGV: 1 channel, 2 token, 3 attempt (one per Release call, the same for its retries),
-- 4 remember_ms.
-- Returns {1, token, fence, ttl_ms, ...} when the token held a grant: its permits now serve
-- the queue, and each waiter they served is listed (none: {1}); {0} when it held none.
local now = now_ms()
expire_holders(now)
if not drop_grant(ARGV[2]) then
  -- A re-sent copy of a release that already ran (see release.lua) answers as it did.
  if was_released(preleased, now, ARGV[2] .. ':' .. ARGV[3]) then
    return {1}
  end
  settle(now)
  return {0}
end
remember_release(preleased, now, ARGV[2] .. ':' .. ARGV[3], tonumber(ARGV[4]))
hand_off(now, ARGV[1])
settle(now)
local reply = {1}
for _, v in ipairs(served) do
  table.insert(reply, v)
end
return reply
