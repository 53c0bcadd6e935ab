import { pino, type Logger, type DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';
import { createRequire } from 'node:module';

export type { Logger };

/**
 * Paths pino masks in every log line (invariant 8). Domain code already avoids logging
 * secrets (they are Secret objects, tokens are logged as fingerprints); this is the net
 * under that rope, for objects logged whole by mistake.
 */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'staleToken',
  '*.staleToken',
  'stale_token',
  '*.stale_token',
  'sessionKey',
  '*.sessionKey',
  'session_key',
  '*.session_key',
  'jsCode',
  '*.jsCode',
  'js_code',
  '*.js_code',
  'authorization',
  '*.authorization',
  'phoneNumber',
  '*.phoneNumber',
  'purePhoneNumber',
  '*.purePhoneNumber',
  'phone_number',
  '*.phone_number',
  'pure_phone_number',
  '*.pure_phone_number',
];

export interface LoggerOptions {
  readonly level: string;
  readonly pretty?: boolean;
  /** Defaults to stdout. Tests pass a stream to capture output. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: 'wxtoken' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.pretty) {
    // Loaded only when asked for (log.pretty, a development option): `serve` in production
    // never pays for pino-pretty and its dependencies.
    const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(
      base,
      pinoPretty({ colorize: true, sync: true, singleLine: true, ignore: 'pid,hostname,service' }),
    );
  }
  if (options.destination) return pino(base, options.destination);
  return pino(base, pino.destination(STDOUT));
}

/**
 * Asynchronous stdout: a synchronous write blocks the event loop whenever the pipe to the log
 * collector is full, and a refresh wave of 100,000 authorizers logs 100,000 lines (stalls of up
 * to a second were measured). Lines are written in batches of at least 4 KiB, or every 250 ms:
 * one asynchronous write per line cost ~35 µs of CPU each in thread-pool round trips, which at
 * 1,200 refreshes a second was 45 % of the server's busy time during a wave (CPU profile of the
 * scale-authorizers benchmark). pino flushes what is buffered when the process exits; a process
 * killed with SIGKILL loses at most the last 250 ms of lines.
 */
const STDOUT = { dest: 1, sync: false, minLength: 4096, periodicFlush: 250 } as const;
