import { fingerprint } from '../shared/secret.js';
import type { Clock } from '../shared/clock.js';
import { failWith, type CallRecorder, type Decision, type SimReply } from './call-recorder.js';
import type { SimApp } from './sim-app.js';
import { SimUnknownAppError } from './sim-errors.js';
import { scenePng } from './scene-png.js';
import { jsonObject } from './sim-user-data.js';
import { openTokenCall } from './token-call.js';
import type { SimCheckResult, SimMessage } from './types.js';

export interface SimOrdinaryApisDeps {
  clock: Clock;
  calls: Pick<CallRecorder, 'begin' | 'answer'>;
  appOf(appId: string): SimApp | undefined;
  check(accessToken: string): SimCheckResult;
}

/** The addresses WeChat's servers call back from, as getcallbackip lists them (§12). */
const CALLBACK_IPS = ['101.226.62.77', '101.226.62.78', '101.226.103.59', '101.226.103.60'];

/** WeChat limits a mini-program code's scene to 32 characters. */
const MAX_SCENE_CHARS = 32;
/**
 * getwxacodeunlimit's answer to a missing, empty or over-long scene and to a body that is not
 * JSON alike: `40169 invalid length for scene, or the data is not json string` (the text
 * WeChat returns, as developers report it).
 */
const INVALID_SCENE = 40169;
/**
 * wechat-api.md gives no errcode for a bad custom/send body. An empty body draws WeChat's
 * `44002 empty post data`; for a body that is not a JSON object, lacks a string `touser` or
 * `msgtype`, or is over the 64 KiB the simulator reads, we answer `47001 data format error`
 * (what stable_token gives for a body it cannot parse, §2).
 */
const EMPTY_POST = 44002;
const DATA_FORMAT = 47001;

/**
 * Ordinary token-taking APIs a pass-through forwards (wechat-api.md §12): nothing in them is
 * stateful beyond the token checks they share (openTokenCall), except the messages kept so a
 * gateway test can see what arrived.
 */
export class SimOrdinaryApis {
  readonly #deps: SimOrdinaryApisDeps;

  constructor(deps: SimOrdinaryApisDeps) {
    this.#deps = deps;
  }

  /** GET /cgi-bin/getcallbackip: `{ip_list}`, no errcode on success. */
  callbackIp(accessToken: string | undefined): SimReply {
    return this.#tokenCall('getcallbackip', accessToken, () => ({
      ok: true,
      body: { ip_list: CALLBACK_IPS },
      ...(accessToken && { details: { tokenFingerprint: fingerprint(accessToken) } }),
    }));
  }

  /** POST /cgi-bin/message/custom/send: the message is kept (MessageLog) and acknowledged. */
  customSend(
    method: string,
    accessToken: string | undefined,
    rawBody: string | undefined,
  ): SimReply {
    return this.#postCall('custom_send', method, accessToken, (app) => {
      if (rawBody !== undefined && rawBody.trim() === '') return failWith(EMPTY_POST);
      const body = jsonObject(rawBody);
      const { touser, msgtype } = body ?? {};
      if (!body || !isFilled(touser) || !isFilled(msgtype)) return failWith(DATA_FORMAT);
      const message: SimMessage = { at: this.#deps.clock.now(), touser, msgtype, body };
      app.messages.add(message);
      return { ok: true, body: { errcode: 0, errmsg: 'ok' }, details: { openid: touser } };
    });
  }

  /** POST /wxa/getwxacodeunlimit: a PNG derived from the scene (scenePng), JSON on error. */
  wxaCode(method: string, accessToken: string | undefined, rawBody: string | undefined): SimReply {
    return this.#postCall('getwxacodeunlimit', method, accessToken, () => {
      const scene = jsonObject(rawBody)?.['scene'];
      if (!isFilled(scene) || scene.length > MAX_SCENE_CHARS) return failWith(INVALID_SCENE);
      return { ok: true, binary: { contentType: 'image/png', bytes: scenePng(scene) } };
    });
  }

  /** Control: the app's last messages, oldest first. */
  messages(appId: string): SimMessage[] {
    return this.#app(appId).messages.list();
  }

  clearMessages(appId: string): void {
    this.#app(appId).messages.clear();
  }

  /** 43002 for a GET, before anything else (as stable_token does), then #tokenCall. */
  #postCall(
    endpoint: 'custom_send' | 'getwxacodeunlimit',
    method: string,
    accessToken: string | undefined,
    decide: (app: SimApp) => Decision,
  ): SimReply {
    if (method !== 'POST') {
      return this.#deps.calls.answer(this.#deps.calls.begin(endpoint, ''), failWith(43002));
    }
    return this.#tokenCall(endpoint, accessToken, decide);
  }

  #tokenCall(
    endpoint: 'getcallbackip' | 'custom_send' | 'getwxacodeunlimit',
    accessToken: string | undefined,
    decide: (app: SimApp) => Decision,
  ): SimReply {
    const opened = openTokenCall(this.#deps, endpoint, accessToken);
    return this.#deps.calls.answer(opened.call, opened.refusal ?? decide(opened.app));
  }

  #app(appId: string): SimApp {
    const app = this.#deps.appOf(appId);
    if (!app) throw new SimUnknownAppError(appId);
    return app;
  }
}

function isFilled(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
