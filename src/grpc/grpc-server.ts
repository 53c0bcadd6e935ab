import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Config } from '../config/config.js';
import type { Logger } from '../shared/logger.js';
import type { TokenService } from '../service/token-service.js';
import type { TicketService } from '../service/ticket-service.js';
import { tolerantDeserializers, type CallObserver } from './call-boundary.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CallAuditor } from './rpc-audit.js';
import type { Caller } from '../auth/authorizer.js';
import type { CallGuard } from '../auth/call-guard.js';
import { loadPackageDefinition, loadProto } from './proto.js';
import { reflectionDefinition } from './reflection-definition.js';
import { addTolerantly } from './tolerant-services.js';
import { TICKET_ENCODER, TOKEN_ENCODER } from './reply-encoding.js';
import { tokenHandlers } from './token-handlers.js';
import { EncodedTokens } from './encoded-tokens.js';
import { loginHandlers } from './login-handlers.js';
import { componentHandlers } from './component-handlers.js';
import type { ComponentService } from '../component/component-service.js';
import { TlsFileProvider } from './tls-files.js';
import type { LoginService } from '../login/login-service.js';
import { TooManyStreamsError } from '../shared/errors.js';
import { keepStreamMapsYoung, RENEW_EVERY_MS } from './young-stream-maps.js';

export const TOKEN_SERVICE_NAME = 'wxtoken.v1.TokenService';
export const LOGIN_SERVICE_NAME = 'wxtoken.v1.LoginService';
/**
 * Liveness: SERVING while the process answers at all. Unlike readiness it never depends on
 * Redis, WeChat or an app's token, because a restart cures none of those; a probe that gets
 * no answer in time (gRPC down, event loop stalled) is what a restart can help.
 */
export const LIVENESS_SERVICE_NAME = 'liveness';
/** Per-app health: SERVING while that app has a live token in this replica. */
export const appHealthName = (appId: string): string => `${TOKEN_SERVICE_NAME}/${appId}`;

/** Connection and stream bounds (config `grpc.*`): what one peer can hold open. */
export type ConnectionLimits = Omit<Config['grpc'], 'listen' | 'maxRequestBytes'>;

export interface GrpcServerOptions {
  readonly listen: string;
  readonly maxRequestBytes: number;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  readonly observer?: CallObserver;
  /** Authentication, authorization and rate limits for every RPC. */
  readonly guard?: CallGuard;
  /** Where ListAuditEvents reads, and what records the audited calls. */
  readonly auditLog: AuditLog;
  readonly audit?: CallAuditor;
  /** Who may see which app (for ListApps and session lookups). */
  readonly canUseApp?: (caller: Caller, appId: string) => boolean;
  /** Server TLS from files, re-read every few seconds and on SIGHUP so a renewed certificate is picked up. */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly clientCaFile?: string;
  };
  /** How long in-flight calls get to finish on shutdown before they are cut. */
  readonly drainMs?: number;
  /** Third-party platforms (`components[]`): ComponentService is served when set. */
  readonly components?: ComponentService;
}

/**
 * The gRPC front door: TokenService, standard health (grpc.health.v1) and server
 * reflection, so grpcurl/grpcui/Postman work without the proto files.
 */
export class GrpcServer {
  readonly #server: grpc.Server;
  readonly #health = new HealthImplementation({
    '': 'NOT_SERVING',
    [TOKEN_SERVICE_NAME]: 'NOT_SERVING',
    [LOGIN_SERVICE_NAME]: 'NOT_SERVING',
    [LIVENESS_SERVICE_NAME]: 'NOT_SERVING',
  });
  /** The last status set per service: Watch streams get a message only on a change. */
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  /** Open WatchToken streams per caller name, for grpc.maxWatchStreamsPerCaller. */
  readonly #watchers = new Map<string, number>();
  /** GetToken's replies, encoded ahead. */
  readonly #encodedTokens: EncodedTokens;
  #port = 0;
  #tls: TlsFileProvider | undefined;
  readonly #onHangup = (): void => void this.reloadTls();

  constructor(
    service: TokenService,
    tickets: TicketService,
    login: LoginService,
    private readonly options: GrpcServerOptions,
  ) {
    const limits = options.limits;
    // Every connection is bounded: without an idle timeout, 350 sockets that connected and went
    // quiet stayed open forever and, under a 200-fd limit, made real calls fail. A maximum age
    // (with a grace period for calls in flight) spreads long-lived WatchToken clients over
    // replicas again after a rollout; keepalive pings drop peers that vanished silently.
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxRequestBytes,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
      'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
      'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGraceMs,
      'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    });
    const definition = loadPackageDefinition();
    const proto = loadProto(definition);
    this.#encodedTokens = new EncodedTokens(service);
    this.#server.addService(
      tolerantDeserializers(proto.wxtoken.v1.TokenService.service, {
        GetToken: TOKEN_ENCODER,
        WatchToken: TOKEN_ENCODER,
        GetTicket: TICKET_ENCODER,
      }),
      tokenHandlers(service, tickets, {
        log: options.log,
        ...(options.observer ? { observer: options.observer } : {}),
        ...(options.guard ? { guard: options.guard } : {}),
        canUseApp: options.canUseApp ?? (() => true),
        auditLog: options.auditLog,
        ...(options.audit ? { audit: options.audit } : {}),
        quietMethods: new Set(['GetToken']),
        encodedTokens: this.#encodedTokens,
        streams: {
          add: (stream, caller) => {
            const held = this.#watchers.get(caller) ?? 0;
            if (held >= limits.maxWatchStreamsPerCaller) {
              throw new TooManyStreamsError(caller, limits.maxWatchStreamsPerCaller);
            }
            this.#watchers.set(caller, held + 1);
            this.#streams.add(stream);
            let open = true;
            return () => {
              if (!open) return;
              open = false;
              this.#streams.delete(stream);
              const left = (this.#watchers.get(caller) ?? 1) - 1;
              if (left > 0) this.#watchers.set(caller, left);
              else this.#watchers.delete(caller);
            };
          },
        },
      }),
    );
    this.#server.addService(
      tolerantDeserializers(proto.wxtoken.v1.LoginService.service),
      loginHandlers(login, {
        log: options.log,
        ...(options.observer ? { observer: options.observer } : {}),
        ...(options.guard ? { guard: options.guard } : {}),
        canUseApp: options.canUseApp ?? (() => true),
        // Its handler logs one richer 'code2session' line; a second 'rpc' line per login costs
        // measurable latency (bench: login) and says nothing more. Failures are still logged.
        quietMethods: new Set(['Code2Session']),
      }),
    );
    if (options.components) {
      this.#server.addService(
        tolerantDeserializers(proto.wxtoken.v1.ComponentService.service),
        componentHandlers(options.components, {
          log: options.log,
          ...(options.observer ? { observer: options.observer } : {}),
          ...(options.guard ? { guard: options.guard } : {}),
          ...(options.audit ? { audit: options.audit } : {}),
        }),
      );
    }
    addTolerantly(this.#server, this.#health);
    addTolerantly(this.#server, new ReflectionService(reflectionDefinition()));
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    const tls = this.options.tls;
    if (tls) {
      // Read and checked now: a missing file or a mismatched key fails the start.
      this.#tls = new TlsFileProvider(tls, {
        reloaded: (cert) => this.options.log.info({ tls: cert }, 'TLS certificate reloaded'),
        rejected: (problem) =>
          this.options.log.warn({ problem }, 'TLS files not reloaded; keeping the current ones'),
      });
    }
    this.#port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(
        this.options.listen,
        serverCredentials(this.#tls, tls?.clientCaFile !== undefined),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    // Nothing for an operator to do if it cannot: calls are served, with more garbage for major
    // collections (docs/third-party.md, "Garbage per call").
    const notRenewed = (): void =>
      this.options.log.info(
        'HTTP/2 stream maps not renewed: grpc-js or Node internals differ from what this version knows',
      );
    if (!keepStreamMapsYoung(this.#server, RENEW_EVERY_MS, notRenewed)) notRenewed();
    if (this.#tls) {
      this.#tls.watch(TLS_REFRESH_MS);
      process.on('SIGHUP', this.#onHangup);
    }
    this.#setStatus(LIVENESS_SERVICE_NAME, 'SERVING');
    return this.#port;
  }

  /** Re-reads the TLS files now (SIGHUP does this); no-op without TLS. */
  reloadTls(): 'changed' | 'unchanged' | 'rejected' | 'no-tls' {
    return this.#tls?.reload() ?? 'no-tls';
  }

  /** Readiness: service "" and the two API services. Idempotent: no message to watchers unless it changes. */
  setServing(status: ServingStatus): void {
    this.#setStatus('', status);
    this.#setStatus(TOKEN_SERVICE_NAME, status);
    this.#setStatus(LOGIN_SERVICE_NAME, status);
  }

  /** One app's health (`wxtoken.v1.TokenService/<appId>`); never touches readiness. */
  setAppServing(appId: string, status: ServingStatus): void {
    this.#setStatus(appHealthName(appId), status);
  }

  #setStatus(service: string, status: ServingStatus): void {
    // grpc-health-check writes to every watcher of the service on each setStatus, changed or not.
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    this.#health.setStatus(service, status);
  }

  /** Stops taking calls, ends watch streams, lets in-flight unary calls finish (bounded). */
  async stop(): Promise<void> {
    process.off('SIGHUP', this.#onHangup);
    this.#tls?.stop();
    this.setServing('NOT_SERVING');
    this.#setStatus(LIVENESS_SERVICE_NAME, 'NOT_SERVING');
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
    const drained = new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    const timeout = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), this.options.drainMs ?? 5000).unref(),
    );
    if ((await Promise.race([drained, timeout])) === 'timeout') this.#server.forceShutdown();
    this.#encodedTokens.close();
  }
}

/** Certificate reload interval: a renewed certificate is served within this time (or at once on SIGHUP). */
const TLS_REFRESH_MS = 5_000;

function serverCredentials(
  tls: TlsFileProvider | undefined,
  mtls: boolean,
): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  // grpc-js's parameter names are swapped in its typings: the identity provider comes first.
  return grpc.experimental.createCertificateProviderServerCredentials(tls, mtls ? tls : null, mtls);
}
