import { randomBytes } from 'node:crypto';
import type { MessageCrypto } from '../wechat/message-crypto.js';

/** How long a push waits for the receiver. */
export const PUSH_TIMEOUT_MS = 5_000;
/** The most of a receiver's answer kept; WeChat wants the 7 bytes `success`. */
const MAX_ANSWER_CHARS = 1024;

/** Fields written as numbers in the event XML; every other one is CDATA. */
const NUMERIC_FIELDS = new Set(['CreateTime', 'AuthorizationCodeExpiredTime']);

/** The receiver's answer to one push. */
export interface EventAnswer {
  /** The HTTP status; 0 when there is no answer. */
  status: number;
  /** The answer's body, cut at 1 KiB. */
  body: string;
  /** Whether the receiver took it: HTTP 200 with the body `success`, as WeChat expects. */
  ok: boolean;
  /** Why there is no answer, when status is 0. */
  error?: string;
}

export interface EventPush {
  crypto: MessageCrypto;
  componentAppId: string;
  eventUrl: string;
  /** The event's fields in order, AppId and CreateTime included. */
  fields: readonly (readonly [string, string])[];
  /** Seconds since the epoch: CreateTime and the query's timestamp. */
  createTime: number;
  /** Aborts the push (the simulator closing). */
  signal: AbortSignal;
}

/**
 * Builds the event XML, seals it with the component's key (wechat-api.md §13) and POSTs it to
 * `eventUrl?timestamp&nonce&msg_signature&encrypt_type=aes` as `<xml><AppId/><Encrypt/></xml>`,
 * as WeChat's authorization-event push does. Never throws: a receiver that is down, slow or
 * wrong is an answer to record, not an error.
 */
export async function pushEvent(push: EventPush): Promise<EventAnswer> {
  const xml = `<xml>${push.fields
    .map(([k, v]) =>
      NUMERIC_FIELDS.has(k) ? `<${k}>${v}</${k}>` : `<${k}><![CDATA[${v}]]></${k}>`,
    )
    .join('')}</xml>`;
  const timestamp = String(push.createTime);
  const nonce = randomBytes(8).toString('hex');
  const sealed = push.crypto.seal(xml, timestamp, nonce);
  const target = new URL(push.eventUrl);
  target.searchParams.set('timestamp', timestamp);
  target.searchParams.set('nonce', nonce);
  target.searchParams.set('msg_signature', sealed.msgSignature);
  target.searchParams.set('encrypt_type', 'aes');
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: `<xml><AppId><![CDATA[${push.componentAppId}]]></AppId><Encrypt><![CDATA[${sealed.encrypt}]]></Encrypt></xml>`,
      signal: AbortSignal.any([push.signal, AbortSignal.timeout(PUSH_TIMEOUT_MS)]),
    });
    const body = (await res.text()).slice(0, MAX_ANSWER_CHARS);
    return { status: res.status, body, ok: res.status === 200 && body.trim() === 'success' };
  } catch (err) {
    // No answer (refused, reset, timed out, closing): status 0, as a browser's fetch reports it.
    return { status: 0, body: '', ok: false, error: (err as Error).message };
  }
}
