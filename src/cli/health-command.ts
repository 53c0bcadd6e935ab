import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, type Command } from 'commander';
import { service as healthService } from 'grpc-health-check';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from './connection.js';
import { explainUnreachable, transportText } from './unreachable.js';

/** grpc.health.v1 HealthCheckResponse.ServingStatus, as proto-loader gives it (enum names). */
type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

type HealthClient = grpc.Client & {
  check(
    request: { service: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, reply?: { status: ServingStatus }) => void,
  ): grpc.ClientUnaryCall;
};

const HealthClient = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');

export interface HealthResult {
  /** SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or UNREACHABLE when no answer came. */
  readonly status: ServingStatus | 'UNREACHABLE';
  readonly service: string;
  /** Why there was no status, for humans. */
  readonly error?: string;
}

/** One grpc.health.v1.Health/Check; never throws: an unreachable server is a result too. */
export async function checkHealth(
  addr: string,
  service: string,
  timeoutMs: number,
  channel: {
    credentials?: grpc.ChannelCredentials;
    options?: grpc.ChannelOptions;
    tls?: boolean;
  } = {},
): Promise<HealthResult> {
  const client = new HealthClient(
    addr,
    channel.credentials ?? grpc.credentials.createInsecure(),
    channel.options ?? {},
  ) as unknown as HealthClient;
  try {
    const status = await new Promise<ServingStatus>((resolve, reject) =>
      client.check(
        { service },
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, reply) => (err ? reject(err) : resolve(reply?.status ?? 'UNKNOWN')),
      ),
    );
    return { status, service };
  } catch (err) {
    const e = err as grpc.ServiceError;
    // The standard health service answers NOT_FOUND for a service it does not know.
    if (e.code === grpc.status.NOT_FOUND) {
      return {
        status: 'SERVICE_UNKNOWN',
        service,
        error: `the health service at ${addr} does not know service "${service}"`,
      };
    }
    const error =
      e.code === grpc.status.DEADLINE_EXCEEDED
        ? `cannot reach wxtoken at ${addr}: no answer within ${timeoutMs} ms`
        : e.code === grpc.status.UNAVAILABLE
          ? explainUnreachable(e.details || e.message, addr, channel.tls ?? false)
          : `cannot reach wxtoken at ${addr}: ${grpc.status[e.code] ?? e.code}: ${transportText(e.details || e.message)}`;
    return { status: 'UNREACHABLE', service, error };
  } finally {
    client.close();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive integer');
  return n;
}

/**
 * `wxtoken health`: grpc.health.v1.Health/Check, for on-call, scripts and the Docker
 * HEALTHCHECK. Exit 0 only when SERVING.
 */
export function registerHealthCommand(program: Command, defaultAddr: string): void {
  addConnectionOptions(program.command('health'), defaultAddr)
    .description('check grpc.health.v1 status; exit 0 only when SERVING')
    .option(
      '--service <name>',
      'service to check: "" = this replica can serve (readiness), "liveness", or wxtoken.v1.TokenService/APPID for one app',
      '',
    )
    .option('--timeout-ms <n>', 'give up after this long', positiveInt, 2000)
    .option('--json', 'machine-readable output')
    .action(async (o: ConnectionFlags & { service: string; timeoutMs: number; json?: boolean }) => {
      let connection;
      try {
        connection = resolveConnection(o);
      } catch (err) {
        console.error(`error: ${(err as Error).message}`);
        process.exit(2);
      }
      const r = await checkHealth(o.addr, o.service, o.timeoutMs, connection);
      if (o.json) {
        console.log(
          JSON.stringify({
            status: r.status,
            service: r.service,
            ...(r.error ? { error: r.error } : {}),
          }),
        );
      } else if (r.error) {
        console.error(`error: ${r.error}`);
      } else {
        console.log(r.status);
      }
      process.exitCode = r.status === 'SERVING' ? 0 : 1;
    });
}
