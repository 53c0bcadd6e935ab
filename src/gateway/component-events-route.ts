import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComponentEvents } from '../component/component-events.js';
import { EventRefusedError } from '../component/component-events.js';
import type { Logger } from '../shared/logger.js';
import { DEFAULT_EVENT_XML_LIMITS, EventXmlError, parseEventXml } from '../wechat/event-xml.js';

/** `POST /wechat/component/<componentAppId>/events`: WeChat's 授权事件接收URL. */
export const EVENTS_PATH = /^\/wechat\/component\/([A-Za-z0-9_-]{1,64})\/events$/;

/** The largest event body: the XML reader's own bound (an Encrypt of 64 KiB and its frame). */
export const MAX_EVENT_BYTES = DEFAULT_EVENT_XML_LIMITS.maxChars;

/**
 * Answers one event POST. Every refusal of the message itself (signature, replay window,
 * padding, appid, XML) gets the same 400 and body, so the answer tells a prober nothing (no
 * padding oracle); the reason goes to the log. A genuine message is answered `success`, as
 * WeChat expects, only once what it says is stored; an upstream failure (api_query_auth)
 * answers 503 so WeChat pushes it again.
 */
export async function answerEvent(
  events: ComponentEvents,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  componentAppId: string,
  body: Buffer,
): Promise<string> {
  if (req.method !== 'POST') return text(res, 405, 'POST only', 'method');
  if (!events.has(componentAppId)) return text(res, 404, 'no such component', 'unknown_component');
  const q = url.searchParams;
  try {
    const outer = parseEventXml(body.toString('utf8'));
    const outcome = await events.handle(componentAppId, {
      msgSignature: q.get('msg_signature') ?? '',
      timestamp: q.get('timestamp') ?? '',
      nonce: q.get('nonce') ?? '',
      encrypt: outer.Encrypt ?? '',
    });
    log.info({ componentAppId, event: outcome }, 'component event');
    return text(res, 200, 'success', 'ok');
  } catch (err) {
    if (err instanceof EventRefusedError || err instanceof EventXmlError) {
      const reason = err instanceof EventRefusedError ? err.reason : 'outer xml';
      log.warn({ componentAppId, reason }, 'component event refused; nothing stored');
      return text(res, 400, 'invalid request', 'refused');
    }
    log.warn(
      { componentAppId, err: (err as Error).message },
      'component event not handled; WeChat will push it again',
    );
    return text(res, 503, 'try again', 'error');
  }
}

function text(res: ServerResponse, status: number, body: string, result: string): string {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return result;
}
