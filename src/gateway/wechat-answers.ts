import { errcodeLabel } from '../wechat/wechat-error.js';

/**
 * The JSON bodies WeChat answers errors with, as the gateway gives them: always HTTP 200 with
 * `{errcode, errmsg}` (except a body too large, 413), so an SDK's own error handling works.
 * The errmsg texts are WeChat's, shortened; a reason of wxtoken's own is added after " (wxtoken: ".
 */
export const ANSWERS = {
  busy: [-1, 'system error'],
  badToken: [40001, 'invalid credential, access_token is invalid or not latest'],
  badGrantType: [40002, 'invalid grant_type'],
  badAppId: [40013, 'invalid appid'],
  badArgs: [40097, 'invalid args'],
  badSecret: [40125, 'invalid appsecret'],
  noToken: [41001, 'access_token missing'],
  noAppId: [41002, 'appid missing'],
  noSecret: [41004, 'appsecret missing'],
  badCode: [40029, 'invalid code'],
  usedCode: [40163, 'code been used'],
  tooLarge: [45002, 'content size out of limit'],
  rateLimited: [45009, 'reach max api daily quota limit'],
  minuteQuota: [45011, 'api minute-quota reach limit'],
  badJson: [47001, 'data format error'],
  forbidden: [48001, 'api unauthorized'],
} as const satisfies Record<string, readonly [number, string]>;

export type AnswerName = keyof typeof ANSWERS;

/** Every errcode the gateway answers with of its own. */
const ANSWER_CODES: ReadonlySet<number> = new Set(
  Object.values(ANSWERS).map(([errcode]) => errcode),
);

/**
 * The metric label (`result`) of an answer with this errcode. WeChat's own errcodes come back
 * through jscode2session, so only codes wxtoken knows keep their number: the label set stays
 * bounded whatever WeChat sends.
 */
export function resultOf(errcode: number): string {
  return ANSWER_CODES.has(errcode) || errcodeLabel(errcode) !== 'other'
    ? `errcode_${errcode}`
    : 'errcode_other';
}

export type WeChatErrorBody = Readonly<Record<string, unknown>> & {
  readonly errcode: number;
  readonly errmsg: string;
};

export function answer(name: AnswerName, why?: string): WeChatErrorBody {
  const [errcode, errmsg] = ANSWERS[name];
  return { errcode, errmsg: why ? `${errmsg} (wxtoken: ${why})` : errmsg };
}
