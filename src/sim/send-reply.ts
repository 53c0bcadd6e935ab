import type { ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';
import { WECHAT_JSON, sendJson, sendText } from './http-io.js';
import type { SimReply } from './sim-backend.js';
import type { SimEndpoint } from './types.js';

/** A held 'timeout' socket is dropped after this long if the client has not given up first. */
const TIMEOUT_HOLD_MS = 30_000;

const GATEWAY_PAGE =
  '<!DOCTYPE html><html><head><title>Service Unavailable</title></head>' +
  '<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>';

const BAD_GATEWAY_PAGE =
  '<html><head><title>502 Bad Gateway</title></head>' +
  '<body><center><h1>502 Bad Gateway</h1></center><hr><center>stgw</center></body></html>';

/** huge_body's size, and the size of the chunks it is written in (it is never held in memory). */
export const HUGE_BODY_BYTES = 100 * 2 ** 20;
const HUGE_CHUNK = Buffer.alloc(64 * 1024, 'A');
/** long_token's token length: twice what wxtoken accepts. */
export const LONG_TOKEN_CHARS = 4096;

/**
 * The credential field of the faulty bodies: huge_body, long_token and malformed imitate the
 * endpoint's own success body, so a client's checks of that body are what the fault exercises.
 * `cut` is where malformed stops: inside the credential (or the phone number).
 */
function credentialBody(endpoint: SimEndpoint): { head: string; tail: string; cut: string } {
  switch (endpoint) {
    case 'getticket':
      return {
        head: '{"errcode":0,"errmsg":"ok","ticket":"',
        tail: '","expires_in":7200}',
        cut: TRUNCATED_VALUE,
      };
    case 'getuserphonenumber':
      return {
        head: '{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"',
        tail: '","purePhoneNumber":"13800138000","countryCode":"86"}}',
        cut: '+86 1380013',
      };
    default:
      return { head: '{"access_token":"', tail: '","expires_in":7200}', cut: TRUNCATED_VALUE };
  }
}

/** A credential body cut short, as a connection dropped mid-response would leave it. */
const TRUNCATED_VALUE = '86_Xq3vT9kLmN0pR7';

/**
 * Sends a reply after the app's latency. `signal` aborts when the client goes away or the
 * simulator closes; nothing is written then. Waits use the injected clock, so under a fake
 * clock a latency or a held socket lasts until the test advances it (or closes the simulator).
 */
export async function sendReply(
  res: ServerResponse,
  reply: SimReply,
  clock: Clock,
  signal: AbortSignal,
): Promise<void> {
  if (reply.delayMs > 0 && !(await wait(clock, reply.delayMs, signal))) return;
  if (reply.kind === 'json') {
    sendJson(res, 200, reply.body, WECHAT_JSON);
    return;
  }
  if (reply.kind === 'binary') {
    const { contentType, bytes } = reply.binary;
    res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
    res.end(bytes);
    return;
  }
  const body = credentialBody(reply.endpoint);
  switch (reply.fault) {
    case 'html':
      sendText(res, 200, 'text/html; charset=utf-8', GATEWAY_PAGE);
      return;
    case 'http_502':
      sendText(res, 502, 'text/html', BAD_GATEWAY_PAGE);
      return;
    case 'malformed':
      sendText(res, 200, WECHAT_JSON, body.head + body.cut);
      return;
    case 'huge_body':
      await sendHugeBody(res, body, signal, true);
      return;
    case 'huge_chunked':
      await sendHugeBody(res, body, signal, false);
      return;
    case 'stalled_body':
      res.writeHead(200, { 'content-type': WECHAT_JSON });
      res.write(body.head);
      await wait(clock, TIMEOUT_HOLD_MS, signal);
      res.destroy();
      return;
    case 'long_token':
      sendText(res, 200, WECHAT_JSON, body.head + 'L'.repeat(LONG_TOKEN_CHARS) + body.tail);
      return;
    case 'timeout':
      // Never answer: the client's own timeout is what the test observes.
      await wait(clock, TIMEOUT_HOLD_MS, signal);
      res.destroy();
      return;
  }
}

/**
 * `{"access_token":"AAA…","expires_in":7200}` (or the ticket body) of HUGE_BODY_BYTES, written
 * chunk by chunk with backpressure, its length announced or not (chunked); stops when the
 * client goes away (which is what a capped client does).
 */
async function sendHugeBody(
  res: ServerResponse,
  { head, tail }: { head: string; tail: string },
  signal: AbortSignal,
  announce: boolean,
): Promise<void> {
  res.writeHead(
    200,
    announce
      ? { 'content-type': WECHAT_JSON, 'content-length': HUGE_BODY_BYTES }
      : { 'content-type': WECHAT_JSON },
  );
  res.write(head);
  let left = HUGE_BODY_BYTES - head.length - tail.length;
  while (left > 0 && !signal.aborted && !res.destroyed) {
    const chunk = left >= HUGE_CHUNK.length ? HUGE_CHUNK : HUGE_CHUNK.subarray(0, left);
    left -= chunk.length;
    if (!res.write(chunk)) {
      // Both listeners go once either fires: one left per wait piled up (MaxListenersExceeded).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
  if (left === 0 && !res.destroyed) res.end(tail);
}

/** True once `ms` have passed, false if `signal` aborted first. */
async function wait(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}
