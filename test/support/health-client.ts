import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** A grpc.health.v1.Health client for tests: Check and Watch over a real socket. */
type Status = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

type RawHealthClient = grpc.Client & {
  check(
    request: { service: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, reply?: { status: Status }) => void,
  ): grpc.ClientUnaryCall;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: Status }>;
};

const Ctor = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');

export class HealthClient {
  readonly #client: RawHealthClient;

  /** Each client has its own connection (grpc-js would share one per target otherwise). */
  constructor(addr: string) {
    this.#client = new Ctor(addr, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    }) as unknown as RawHealthClient;
  }

  /** The status, or `NOT_FOUND` when the server does not know the service. */
  check(service: string, timeoutMs = 2_000): Promise<Status | 'NOT_FOUND'> {
    return new Promise((resolve, reject) =>
      this.#client.check(
        { service },
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, reply) => {
          if (err?.code === grpc.status.NOT_FOUND) resolve('NOT_FOUND');
          else if (err) reject(err);
          else resolve(reply!.status);
        },
      ),
    );
  }

  /** Opens a Watch stream; `messages` grows with every status the server sends. */
  watch(service: string): { messages: Status[]; cancel(): void } {
    const call = this.#client.watch({ service });
    const messages: Status[] = [];
    call.on('data', (m: { status: Status }) => messages.push(m.status));
    call.on('error', () => undefined);
    return { messages, cancel: () => call.cancel() };
  }

  close(): void {
    this.#client.close();
  }
}
