import { pino, type Logger, type DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';
import { createRequire } from 'node:module';
import { systemClock } from './clock.js';
import { LineBatcher } from './line-batcher.js';

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
  return pino(base, batchedStdout());
}

/**
 * Asynchronous stdout: a synchronous write blocks the event loop whenever the pipe to the log
 * collector is full, and a refresh wave of 100,000 authorizers logs 100,000 lines (stalls of up
 * to a second were measured). Lines that come fast are batched (LineBatcher). On exit, what
 * waits in the batcher and in SonicBoom is written synchronously (pino's own exit hook writes
 * SonicBoom's part too; whichever runs second finds nothing left).
 */
function batchedStdout(): DestinationStream {
  const batcher = new LineBatcher(pino.destination({ dest: 1, sync: false }), systemClock);
  process.once('exit', () => {
    try {
      batcher.flushSync();
    } catch {
      // stdout closed: nothing left to tell
    }
  });
  return batcher;
}
