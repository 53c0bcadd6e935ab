--[[
  The forced-fetch budget of one app, shared by every replica (invariant 6: forced refreshes
  are rate-limited per app to protect WeChat's daily quota; N replicas must not allow N times
  it). The minimum interval is measured on this Redis server's clock, one clock for all
  replicas, so no replica's wall-clock step moves it.

  KEYS[1]  budget hash  <prefix>{app:<appId>}:force   fields: day, used, last (ms, server time)
  ARGV[1]  "check" or "consume"
  ARGV[2]  the Beijing day number (from the caller's wall clock: the quota's own day)
  ARGV[3]  minimum interval between forced fetches, ms
  ARGV[4]  daily budget

  Returns {code, value}:
     0  allowed (check) / counted (consume); value = forced fetches left today
     1  the daily budget is spent; value = 0
     2  inside the minimum interval; value = ms to wait
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used, last = 0, 0
if redis.call('HGET', KEYS[1], 'day') == ARGV[2] then
  used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
  last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
end
local daily = tonumber(ARGV[4])
if ARGV[1] == 'consume' then
  used = used + 1
  redis.call('HSET', KEYS[1], 'day', ARGV[2], 'used', tostring(used), 'last', tostring(now))
  redis.call('PEXPIRE', KEYS[1], 172800000)
  return {0, math.max(0, daily - used)}
end
if used >= daily then return {1, 0} end
if used > 0 then
  local wait = last + tonumber(ARGV[3]) - now
  if wait > 0 then return {2, wait} end
end
return {0, daily - used}
