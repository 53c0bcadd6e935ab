/**
 * metrics.perAppSeries's ceiling: 10,000 apps' series make a ~10 MB scrape that holds the event
 * loop for seconds; past this, use the aggregates.
 */
export const MAX_PER_APP_SERIES = 10_000;

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
  // Apps with per-app series per scrape: those in trouble first, then by app id (docs/metrics.md).
  metricsPerAppSeries: 100,
  gatewayMaxRequestBytes: 10 * 1024 * 1024,
  gatewayMaxResponseBytes: 32 * 1024 * 1024,
  gatewayTimeoutMs: 30_000,
  // Pass-through calls forwarded at once (the upstream pool's size): more are refused, not queued.
  gatewayMaxInFlight: 256,
  wechatBaseUrl: 'https://api.weixin.qq.com',
  wechatTimeoutMs: 5000,
  redisKeyPrefix: 'wxtoken:',
  loginSessionTtlSeconds: 259_200,
  limitsForceRefreshPerMinute: 600,
  limitsCode2SessionPerSecond: 200,
  limitsSessionCallsPerSecond: 50,
  limitsPerSessionPerMinute: 30,
  limitsPassThroughPerSecond: 1000,
  redisReconcileIntervalMs: 2000,
  redisReconcileRecordsPerSecond: 5000,
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
