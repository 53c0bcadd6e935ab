import type { CallerConfig } from '../auth/authorizer.js';
import type { Secret } from '../shared/secret.js';
import type { TicketType } from '../shared/tickets.js';

/**
 * The validated, frozen configuration (design.md "Process and configuration").
 * Units are in the key names; every duration accepts fractions so tests can run
 * whole token lifetimes in seconds. Defaults and docs: docs/configuration.md (npm run docs:config).
 */
export type AppMode = 'classic' | 'stable';

export interface AppConfig {
  readonly appId: string;
  readonly mode: AppMode;
  /**
   * Resolved from secretEnv, secretFile or (dev only, warned) secret. Absent for a third-party
   * platform's authorizer: its token comes from the component, which holds no AppSecret of it.
   */
  readonly secret?: Secret;
  /** Where the secret came from, for messages: "env WX_SECRET", "file /run/...", "inline", "component wx...". */
  readonly secretSource: string;
  /** An authorizer of this third-party platform (componentAppId); absent for a configured app. */
  readonly component?: string;
  /** Overrides login.exposeSessionKey for this app. */
  readonly exposeSessionKey?: boolean;
  /** The tickets (jsapi, wx_card) the leader keeps for this app (GetTicket, SignJsapi), each at most once. Default []. */
  readonly tickets: readonly TicketType[];
}

/** redis.encryption: AES-256-GCM of tokens and session keys stored in Redis (issue 6). */
export interface RedisEncryptionConfig {
  /** New values are sealed under this key; every listed key can still open. */
  readonly currentKeyId: string;
  readonly keys: readonly {
    readonly id: string;
    /** Base64 of 32 bytes, from keyEnv or keyFile. */
    readonly key: Secret;
    /** "env NAME" or "file /path", for messages. */
    readonly source: string;
  }[];
  /**
   * Also open values sealed without AAD (enc:v1, releases before issue 11) during a rolling
   * upgrade. Default false: such a value could have been moved between apps or fields.
   */
  readonly acceptUnboundValues: boolean;
}

/**
 * redis.tls: TLS to Redis for `rediss://` URLs, for a private CA and mutual TLS. The files are
 * read when the configuration is loaded; `ca`, `cert` and `key` hold their PEM contents.
 */
export interface RedisTlsConfig {
  /** Path as configured, resolved against the config file's directory. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Name checked against the server certificate (and sent as SNI) instead of the URL host. */
  readonly serverName?: string;
  /** PEM of the CA(s) that sign the Redis servers' certificates; absent = Node's default CAs. */
  readonly ca?: string;
  /** PEM of the client certificate (mutual TLS). */
  readonly cert?: string;
  /** PEM of the client certificate's private key (mutual TLS). */
  readonly key?: Secret;
}

/** components[]: a third-party platform (WeChat Open Platform 第三方平台), docs/third-party.md. */
export interface ComponentConfig {
  readonly componentAppId: string;
  /** The platform's AppSecret (component_appsecret). */
  readonly secret: Secret;
  readonly secretSource: string;
  /** The message verification Token from the Open Platform console. */
  readonly messageToken: Secret;
  /** The 43-character EncodingAESKey from the Open Platform console. */
  readonly encodingAesKey: Secret;
  /** Tickets the leader keeps for every authorizer of this platform. Default []. */
  readonly authorizerTickets: readonly TicketType[];
}

export interface Config {
  readonly grpc: {
    /** host:port; port 0 picks a free one. Default 0.0.0.0:50051. */
    readonly listen: string;
    /** Largest accepted request, bytes. Default 64 KiB: requests are tiny. */
    readonly maxRequestBytes: number;
    /** HTTP/2 streams (calls) open at once on one connection. Default 1000. */
    readonly maxConcurrentStreams: number;
    /** A connection with no call for this long is closed. Default 300000 (5 min). */
    readonly idleTimeoutMs: number;
    /** Connections are asked to go away after this age (WatchToken clients reconnect). Default 1800000. */
    readonly maxConnectionAgeMs: number;
    /** Calls still running at that age get this long to finish before the connection is cut. Default 30000. */
    readonly maxConnectionAgeGraceMs: number;
    /** The server pings a connection idle this long, and drops it if no answer comes... */
    readonly keepaliveTimeMs: number;
    /** ...within this. Defaults 120000 and 20000. */
    readonly keepaliveTimeoutMs: number;
    /** WatchToken streams one caller may hold open at once (per replica). Default 100. */
    readonly maxWatchStreamsPerCaller: number;
  };
  /** The WeChat-compatible HTTP gateway (docs/gateway.md). */
  readonly gateway: {
    /** host:port; "" (the default) = no gateway. */
    readonly listen: string;
    /** Forward every other WeChat path whose access_token wxtoken holds. Default false. */
    readonly passThrough: boolean;
    /** Also accept the app's real AppSecret as `secret` (not only caller keys). Default false. */
    readonly acceptAppSecret: boolean;
    /** Largest request body, bytes (media uploads). Default 10 MiB. */
    readonly maxRequestBytes: number;
    /** Largest forwarded reply, bytes (streamed; cut past this). Default 32 MiB. */
    readonly maxResponseBytes: number;
    /** A forwarded call's upstream time limit. Default 30000. */
    readonly timeoutMs: number;
    /** Pass-through calls forwarded at once; more get errcode -1 at once. Default 256. */
    readonly maxInFlight: number;
  };
  readonly metrics: {
    /** host:port of GET /metrics; "" disables. Default 127.0.0.1:9464 (it lists every AppID). */
    readonly listen: string;
    /**
     * Apps with per-app series (label `app`) in one scrape, those in trouble first, then by
     * app id; 0 = aggregates only. Default 100, at most 10000.
     */
    readonly perAppSeries: number;
  };
  readonly wechat: {
    /** Default https://api.weixin.qq.com. */
    readonly baseUrl: string;
    /** Per-request timeout. Default 5000. */
    readonly timeoutMs: number;
  };
  readonly redis: {
    /**
     * Absent or empty: embedded in-memory store and lease (single instance). Each URL is
     * `redis[s]://[user:password@]host:port[/db]` (ACL user; `rediss` = TLS). URLs may carry a
     * password: never log them whole.
     */
    readonly urls: readonly string[];
    /**
     * Redis Sentinel (issue 16): the sentinels asked for the current primary of `sentinelName`;
     * commands, pub/sub and locks follow a promotion. Empty: not used.
     */
    readonly sentinels: readonly RedisNodeAddress[];
    /** The master name the sentinels monitor (required with sentinels). */
    readonly sentinelName?: string;
    /** The sentinels' own password (sentinelPassword, sentinelPasswordEnv or sentinelPasswordFile). */
    readonly sentinelPassword?: Secret;
    /** Redis Cluster (issue 16): seed nodes. Empty: not used. */
    readonly cluster: readonly RedisNodeAddress[];
    /** The data nodes' ACL user under sentinels or cluster (with urls it is in the URL). */
    readonly username?: string;
    /** The data nodes' password under sentinels or cluster (password, passwordEnv or passwordFile). */
    readonly password?: Secret;
    /** Default "wxtoken:". */
    readonly keyPrefix: string;
    /** Every replica re-reads all records this often: bounds staleness if pub/sub loses a message. Default 2000. */
    readonly reconcileIntervalMs: number;
    /** Records a periodic reconcile pass reads per second at most (per store). Default 5000. */
    readonly reconcileRecordsPerSecond: number;
    /** Per-command timeout: a lock or write that cannot answer fast has failed. Default 1000. */
    readonly commandTimeoutMs: number;
    /** Absent: values are stored in plaintext. Set: tokens and session keys are sealed. */
    readonly encryption?: RedisEncryptionConfig;
    /** Absent: `rediss://` URLs trust Node's default CAs. Set: every URL must be `rediss://`. */
    readonly tls?: RedisTlsConfig;
  };
  readonly lease: {
    /** Leader lease TTL. Default 10000. */
    readonly ttlMs: number;
    /** How often the leader extends; must be < ttlMs / 2. Default ttlMs / 3. */
    readonly renewIntervalMs: number;
  };
  readonly refresh: {
    /** Classic mode: refresh when this much life remains. Default 300. */
    readonly aheadSeconds: number;
    /** Stable mode: WeChat rotates only in its last N seconds. Default 300. */
    readonly stableWindowSeconds: number;
    /** Jitter, as a fraction of the ahead window, that spreads refreshes of many apps. Default 0.2. */
    readonly jitterRatio: number;
    /** First retry delay after a failed refresh. Default 1000. */
    readonly retryMinMs: number;
    /** Cap of the exponential retry backoff. Default 60000. */
    readonly retryMaxMs: number;
    /** Retry delay after a configuration error (wrong secret, IP whitelist...). Default 600000. */
    readonly configErrorRetryMs: number;
    /** Minimum gap between two forced fetches of one app. Default 10000 (stable: never < 30000). */
    readonly forceMinIntervalMs: number;
    /** Forced fetches allowed per app per Beijing day. Default 50 (stable: capped at 20). */
    readonly forceDailyBudget: number;
  };
  readonly log: {
    /** trace | debug | info | warn | error | fatal | silent. Default info (env WXTOKEN_LOG_LEVEL). */
    readonly level: string;
    /** Human-readable output (wxtoken dev). Default false. */
    readonly pretty: boolean;
  };
  readonly login: {
    /** Put session_key in Code2Session replies (default false: it stays inside wxtoken). */
    readonly exposeSessionKey: boolean;
    /** How long a login session (handle → openid, session_key) lives. Default 259200 (3 days). */
    readonly sessionTtlSeconds: number;
  };
  readonly auth: {
    /** Empty: no caller auth (then wxtoken listens on loopback only unless started with --insecure). */
    readonly callers: readonly CallerConfig[];
  };
  /** Server TLS; with clientCaFile, clients must present certificates (mTLS). Reloaded on change. */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly clientCaFile?: string;
  };
  /** Per-caller rate limits. */
  readonly limits: {
    /** ForceRefresh calls per authenticated caller per minute (burst of the same size). Default 600. */
    readonly forceRefreshPerMinute: number;
    /** Code2Session calls per authenticated caller per second (burst of the same size). Default 200. */
    readonly code2SessionPerSecond: number;
    /** CheckSession and ResetSessionKey calls per authenticated caller per second (each; burst the same). Default 50. */
    readonly sessionCallsPerSecond: number;
    /** CheckSession and ResetSessionKey calls per session handle per minute, whoever calls. Default 30. */
    readonly perSessionPerMinute: number;
    /** Gateway pass-through calls per app per second (burst the same); past it 45011. Default 1000. */
    readonly passThroughPerSecond: number;
  };
  readonly audit: {
    /** Audit events kept (ForceRefresh and admin calls); older ones are dropped. 100..1000000, default 10000. */
    readonly maxEvents: number;
  };
  readonly apps: readonly AppConfig[];
  /** Third-party platforms; their authorizers join and leave at run time. Default []. */
  readonly components: readonly ComponentConfig[];
}

/** A Sentinel or Redis Cluster node, from `host:port`. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}
