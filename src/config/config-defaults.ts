/** Defaults, as documented on the `Config` type in config.ts. */
export const CONFIG_DEFAULTS = Object.freeze({
  grpcListen: '0.0.0.0:50051',
  grpcMaxRequestBytes: 64 * 1024,
  // A busy business server multiplexes hundreds of calls on one channel (a 200-call ForceRefresh
  // herd, GetToken bursts): 1,000 keeps them flowing while bounding one connection.
  grpcMaxConcurrentStreams: 1000,
  grpcIdleTimeoutMs: 300_000,
  grpcMaxConnectionAgeMs: 1_800_000,
  grpcMaxConnectionAgeGraceMs: 30_000,
  grpcKeepaliveTimeMs: 120_000,
  grpcKeepaliveTimeoutMs: 20_000,
  grpcMaxWatchStreamsPerCaller: 100,
  // Loopback: /metrics lists every AppID; exposing it is a decision (deploy/ sets 0.0.0.0).
  metricsListen: '127.0.0.1:9464',
  wechatBaseUrl: 'https://api.weixin.qq.com',
  wechatTimeoutMs: 5000,
  redisKeyPrefix: 'wxtoken:',
  loginSessionTtlSeconds: 259_200,
  limitsForceRefreshPerMinute: 600,
  limitsCode2SessionPerSecond: 200,
  limitsSessionCallsPerSecond: 50,
  limitsPerSessionPerMinute: 30,
  redisReconcileIntervalMs: 2000,
  redisCommandTimeoutMs: 1000,
  leaseTtlMs: 10_000,
  /** lease.renewIntervalMs defaults to lease.ttlMs divided by this. */
  leaseRenewDivisor: 3,
  refreshAheadSeconds: 300,
  refreshStableWindowSeconds: 300,
  refreshJitterRatio: 0.2,
  refreshRetryMinMs: 1000,
  refreshRetryMaxMs: 60_000,
  refreshConfigErrorRetryMs: 600_000,
  refreshForceMinIntervalMs: 10_000,
  refreshForceDailyBudget: 50,
  logLevel: 'info',
  auditMaxEvents: 10_000,
});
