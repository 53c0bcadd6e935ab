import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { expect } from 'vitest';
import { MessageCrypto, type MessageCryptoConfig } from '../../src/wechat/message-crypto.js';

/** One POST the receiver got. */
export interface Received {
  query: URLSearchParams;
  body: string;
}

/** How the receiver answers a push: status and body, or 'hold' until `release()`. */
export type ReceiverAnswer = { status: number; body: string } | 'hold';

/**
 * A real event receiver (a platform's 授权事件接收URL) on a loopback port: records every push,
 * answers as `answer` says (default `success`), and tracks how many pushes it holds at once.
 */
export interface EventReceiver {
  readonly url: string;
  readonly received: Received[];
  answer: (r: Received) => ReceiverAnswer;
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Answers every held push with `success`. */
  release(): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<EventReceiver> {
  const held: ServerResponse[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const receiver = {
    received: [] as Received[],
    answer: ((): ReceiverAnswer => ({ status: 200, body: 'success' })) as (
      r: Received,
    ) => ReceiverAnswer,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    release() {
      for (const res of held.splice(0)) res.end('success');
    },
  };
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => inFlight--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        query: new URL(req.url ?? '/', 'http://x').searchParams,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      receiver.received.push(r);
      const answer = receiver.answer(r);
      if (answer === 'hold') held.push(res);
      else res.writeHead(answer.status).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/events`,
    close: () =>
      new Promise<void>((resolve) => {
        receiver.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/**
 * Decrypts one received push independently of the simulator: the signature by hand, AES by
 * MessageCrypto (itself tested against an independent vector).
 */
export function openEvent(r: Received, component: MessageCryptoConfig): string {
  const encrypt = /<Encrypt><!\[CDATA\[(.*?)\]\]><\/Encrypt>/.exec(r.body)?.[1] ?? '';
  expect(r.body).toContain(`<AppId><![CDATA[${component.componentAppId}]]></AppId>`);
  expect(r.query.get('encrypt_type')).toBe('aes');
  const expected = createHash('sha1')
    .update(
      [component.messageToken, r.query.get('timestamp') ?? '', r.query.get('nonce') ?? '', encrypt]
        .sort()
        .join(''),
    )
    .digest('hex');
  expect(r.query.get('msg_signature')).toBe(expected);
  return new MessageCrypto(component).decrypt(encrypt);
}

/** A field of the event XML, CDATA or not. */
export function field(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>(?:<!\\[CDATA\\[)?(.*?)(?:\\]\\]>)?</${name}>`).exec(xml)?.[1];
}
