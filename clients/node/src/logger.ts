/** What the client logs through (pino, console or nothing); never given a token or a key. */
export interface Logger {
  debug?(msg: string, fields?: Record<string, unknown>): void;
  warn?(msg: string, fields?: Record<string, unknown>): void;
}
