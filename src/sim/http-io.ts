import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request bodies here are tiny JSON objects; a larger one is refused rather than buffered. */
const MAX_BODY_BYTES = 64 * 1024;

/** Content-Type WeChat sends on its JSON replies, errors included (wechat-api.md §0). */
export const WECHAT_JSON = 'application/json; encoding=utf-8';

/** The request body as text, or undefined when it exceeds the size limit. */
export async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendText(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
): void {
  sendText(res, status, contentType, JSON.stringify(body));
}

/** The peer's address as the socket reports it ('' once the socket is gone). */
export function remoteIp(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}
