import type { ServerResponse } from 'node:http';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * A reply body serialised once and sent many times: the token path answers the same JSON to
 * every caller of an app until its `expires_in` ticks down a second or the token changes.
 */
export class EncodedBody {
  readonly length: number;

  constructor(readonly text: string) {
    this.length = Buffer.byteLength(text);
  }
}

/** Sends WeChat-style JSON with its length (keep-alive needs it); returns `result`, for the metric. */
export function sendJson(res: ServerResponse, body: object, result: string, status = 200): string {
  const encoded = body instanceof EncodedBody ? body : new EncodedBody(JSON.stringify(body));
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': encoded.length });
  res.end(encoded.text);
  return result;
}
