import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

/** Health service names besides "" (readiness). */
export const LIVENESS_SERVICE_NAME = 'liveness';

/** The per-app health service name: `wxtoken.v1.TokenService/<appId>`. */
export function appHealthName(tokenServiceName: string, appId: string): string {
  return `${tokenServiceName}/${appId}`;
}

/**
 * The statuses grpc.health.v1 reports, set only when they change: the library writes to every
 * Watch stream on every setStatus call, so a status re-asserted each second (the readiness
 * timer) sent every watcher a message a second (2,000 watchers: a steady stream of writes and
 * ~30 MB of buffers). A watcher now hears the current status once, then each change.
 */
export class HealthBoard {
  readonly implementation: HealthImplementation;
  readonly #status = new Map<string, ServingStatus>();

  constructor(initial: Readonly<Record<string, ServingStatus>>) {
    this.implementation = new HealthImplementation(initial);
    for (const [service, status] of Object.entries(initial)) this.#status.set(service, status);
  }

  set(service: string, status: ServingStatus): void {
    if (this.#status.get(service) === status) return;
    this.#status.set(service, status);
    this.implementation.setStatus(service, status);
  }

  get(service: string): ServingStatus | undefined {
    return this.#status.get(service);
  }
}
