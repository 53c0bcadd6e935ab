import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from '../shared/logger.js';
import type { TokenService } from '../token/token-service.js';
import type { CallObserver } from './call-boundary.js';
import { loadPackageDefinition, loadProto } from './proto.js';
import { tokenHandlers } from './token-handlers.js';
import { loginHandlers } from './login-handlers.js';
import type { LoginService } from '../login/login-service.js';

export const TOKEN_SERVICE_NAME = 'wxtoken.v1.TokenService';
export const LOGIN_SERVICE_NAME = 'wxtoken.v1.LoginService';

export interface GrpcServerOptions {
  readonly listen: string;
  readonly maxRequestBytes: number;
  readonly log: Logger;
  readonly observer?: CallObserver;
  /** How long in-flight calls get to finish on shutdown before they are cut. */
  readonly drainMs?: number;
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
  });
  readonly #streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  #port = 0;

  constructor(
    service: TokenService,
    login: LoginService,
    private readonly options: GrpcServerOptions,
  ) {
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxRequestBytes,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const definition = loadPackageDefinition();
    const proto = loadProto(definition);
    this.#server.addService(
      proto.wxtoken.v1.TokenService.service,
      tokenHandlers(service, {
        log: options.log,
        ...(options.observer ? { observer: options.observer } : {}),
        quietMethods: new Set(['GetToken']),
        streams: {
          add: (stream) => {
            this.#streams.add(stream);
            return () => this.#streams.delete(stream);
          },
        },
      }),
    );
    this.#server.addService(
      proto.wxtoken.v1.LoginService.service,
      loginHandlers(login, {
        log: options.log,
        ...(options.observer ? { observer: options.observer } : {}),
      }),
    );
    this.#health.addToServer(this.#server);
    new ReflectionService(definition).addToServer(this.#server);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<number> {
    this.#port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(
        this.options.listen,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    return this.#port;
  }

  setServing(status: ServingStatus): void {
    this.#health.setStatus('', status);
    this.#health.setStatus(TOKEN_SERVICE_NAME, status);
    this.#health.setStatus(LOGIN_SERVICE_NAME, status);
  }

  /** Stops taking calls, ends watch streams, lets in-flight unary calls finish (bounded). */
  async stop(): Promise<void> {
    this.setServing('NOT_SERVING');
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
    const drained = new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    const timeout = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), this.options.drainMs ?? 5000).unref(),
    );
    if ((await Promise.race([drained, timeout])) === 'timeout') this.#server.forceShutdown();
  }
}
