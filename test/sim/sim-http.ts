import { afterEach, beforeEach } from 'vitest';
import { WeChatSimulator, type SimAppSettings } from '../../src/sim/wechat-simulator.js';
import type { Clock } from '../../src/shared/clock.js';

export const APP: SimAppSettings = { appId: 'wxhttp', secret: 'http-secret' };

export interface SimHarness {
  sim: WeChatSimulator;
  url: string;
  /** GET a path; resolves with the status, content type and raw body. */
  get(path: string, init?: RequestInit): Promise<RawResponse>;
  /** Sends JSON (or a raw string) with `method`. */
  send(method: string, path: string, body?: unknown): Promise<RawResponse>;
  tokenPath(params?: Record<string, string>): string;
}

export interface RawResponse {
  status: number;
  contentType: string;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** A simulator on 127.0.0.1:0 for each test of the file, closed after it. */
export function useSimulator(opts: { clock?: Clock } = {}): SimHarness {
  const harness = {} as SimHarness;
  beforeEach(async () => {
    const sim = new WeChatSimulator({ apps: [APP], ...opts });
    const { url } = await sim.listen('127.0.0.1:0');
    const request = async (path: string, init?: RequestInit): Promise<RawResponse> => {
      const res = await fetch(url + path, init);
      const text = await res.text();
      return {
        status: res.status,
        contentType: res.headers.get('content-type') ?? '',
        text,
        json: <T>() => JSON.parse(text) as T,
      };
    };
    Object.assign(harness, {
      sim,
      url,
      get: request,
      send: (method: string, path: string, body?: unknown) =>
        request(path, {
          method,
          ...(body === undefined
            ? {}
            : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        }),
      tokenPath: (params = {}) =>
        '/cgi-bin/token?' +
        new URLSearchParams({
          grant_type: 'client_credential',
          appid: APP.appId,
          secret: APP.secret,
          ...params,
        }).toString(),
    });
  });
  afterEach(async () => {
    await harness.sim.close();
  });
  return harness;
}
