--[[
  Validity-check bookkeeping of one reported token (invariant 6: a verdict answers only the
  reports that arrived before its check was sent). Checks are numbered in the order they are
  sent; a number only ever grows, so a node that missed a write cannot lower what a majority
  read returns.

  KEYS[1]  check hash   <prefix>{app:<appId>}:valid:<token fingerprint>
           fields: sent (checks sent so far), seq + valid (the newest verdict)
  ARGV[1]  field to raise: "sent", or "seq" (a verdict: also sets "valid" to ARGV[4])
  ARGV[2]  new value (integer); ignored unless greater than the stored one
  ARGV[3]  TTL in ms (an expired hash only costs one more check, never a stale answer)
  ARGV[4]  "1" (WeChat accepted the token) or "0", with field "seq"

  Returns the field's value after the call.
]]
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local proposed = tonumber(ARGV[2])
if proposed > current then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  if ARGV[1] == 'seq' then redis.call('HSET', KEYS[1], 'valid', ARGV[4]) end
  current = proposed
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return current
