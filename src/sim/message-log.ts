import type { SimMessage } from './types.js';

/**
 * Messages kept per app, newest last. Each body is at most the simulator's 64 KiB request cap,
 * so an app's log stays under a few MiB however long a load test sends.
 */
export const MAX_MESSAGES = 50;

/** The last customer-service messages an app sent, for tests to check what arrived. */
export class MessageLog {
  #messages: SimMessage[] = [];

  add(message: SimMessage): void {
    this.#messages.push(message);
    if (this.#messages.length > MAX_MESSAGES) this.#messages.shift();
  }

  list(): SimMessage[] {
    return structuredClone(this.#messages);
  }

  clear(): void {
    this.#messages = [];
  }
}
