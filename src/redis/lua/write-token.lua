--[[
  Fenced token write (invariant 2). Atomically: the writer must still hold the app's refresh
  lock, and the generation must grow; then the current token moves to "previous" (WeChat keeps
  it valid during the overlap), the new one becomes current, and every replica is told.

  KEYS[1]  record hash   <prefix>{app:<appId>}:token
  KEYS[2]  refresh lock  <prefix>{app:<appId>}:lock
  ARGV[1]  lock value (the writer's Redlock value)
  ARGV[2]  generation (integer, must be > stored)
  ARGV[3]  access token (as stored: sealed when encryption at rest is on)
  ARGV[4]  expires_at (ms since epoch)
  ARGV[5]  fetched_at (ms since epoch)
  ARGV[6]  pub/sub channel
  ARGV[7]  pub/sub message (JSON of the record)
  ARGV[8]  record TTL in ms (kept well past expiry, then garbage)
  ARGV[9]  fingerprint of the plaintext access token (sealed values differ on every write,
           so "is this a new token" compares fingerprints; stored as token_fp)
  ARGV[10] the raw token field of a record the writer's last read dropped as poisoned (forged,
           impossible generation, refused seal), or "": that exact record is replaced whatever
           generation it claims (still only by the lock holder)

  Returns {code, stored_generation}:
     1  written
    -1  lock not held by this writer (expired, released, or taken by another)
    -2  generation not greater than the stored one
]]
-- The stored generation, or 0 when the record holds none wxtoken could have written: not a
-- number, negative, fractional, or beyond 2^52 (readers drop such a record as poisoned).
-- Without this, a record forged at generation 2^53 would fence every later write out for ever
-- (2^53 + 1 rounds to 2^53). The fence is unchanged for every legitimate record, since
-- wxtoken only ever writes small integers, and the lock check still comes first.
local function stored_generation()
  local g = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
  if g == nil or g < 0 or g > 4503599627370496 or g ~= math.floor(g) then return 0 end
  return g
end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {-1, stored_generation()}
end
local raw = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
local stored = stored_generation()
-- A poisoned record is deleted, not kept as "previous": its token must never be served.
if (ARGV[10] ~= '' and redis.call('HGET', KEYS[1], 'token') == ARGV[10]) or raw ~= stored then
  redis.call('DEL', KEYS[1])
  stored = 0
end
local generation = tonumber(ARGV[2])
if stored >= generation then
  return {-2, stored}
end
local cur = redis.call('HMGET', KEYS[1], 'token', 'expires_at', 'fetched_at', 'generation',
  'token_fp')
-- A record written before token_fp existed holds no fingerprint: compare the stored values.
local changed
if cur[5] then changed = cur[5] ~= ARGV[9] else changed = cur[1] ~= ARGV[3] end
if cur[1] and changed then
  redis.call('HSET', KEYS[1], 'prev_token', cur[1], 'prev_expires_at', cur[2],
    'prev_fetched_at', cur[3], 'prev_generation', cur[4], 'prev_token_fp', cur[5] or '')
end
redis.call('HSET', KEYS[1], 'token', ARGV[3], 'expires_at', ARGV[4], 'fetched_at', ARGV[5],
  'generation', ARGV[2], 'token_fp', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {1, generation}
