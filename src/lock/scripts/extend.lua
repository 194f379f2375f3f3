-- ARGV: 1 token, 2 ttl_ms. Returns the new PTTL when the token holds the lock, else 0.
if redis.call('HGET', owner, 'token') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', owner, ARGV[2])
keep_fence(ARGV[2])
return redis.call('PTTL', owner)
