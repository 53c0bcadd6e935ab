import type {
  AppCredentials,
  Code2SessionResult,
  FetchedToken,
  ResetSessionKeyResult,
  WeChatClient,
} from '../../src/wechat/wechat-client.js';
import { WeChatError } from '../../src/wechat/wechat-error.js';
import type { FakeClock } from './fake-clock.js';

/**
 * An in-process WeChat for unit tests of the core logic with a fake clock: it mints tokens,
 * tracks which ones it accepts, counts calls, and fails on demand. (Integration and e2e
 * tests use the real simulator over HTTP.)
 */
export class ScriptedWeChat implements WeChatClient {
  tokenCalls = 0;
  stableCalls = 0;
  stableForceCalls = 0;
  checkCalls = 0;
  expiresInSeconds = 7200;
  /** Errors thrown by the next token calls, in order. */
  readonly failures: WeChatError[] = [];
  /** Resolve a pending call only when the test says so (to hold a fetch in flight). */
  gate: Promise<void> | undefined;
  /** Holds validity checks in flight; each is answered as WeChat saw the token when it was sent. */
  checkGate: Promise<void> | undefined;
  readonly valid = new Set<string>();
  #seq = 0;
  #stable: string | undefined;

  constructor(private readonly clock: FakeClock) {}

  async getToken(_app: AppCredentials): Promise<FetchedToken> {
    this.tokenCalls++;
    return this.#issue('token');
  }

  async getStableToken(_app: AppCredentials, forceRefresh: boolean): Promise<FetchedToken> {
    this.stableCalls++;
    if (forceRefresh) this.stableForceCalls++;
    const sentAt = this.clock.now();
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (!this.#stable || forceRefresh) {
      this.#stable = `stable-${++this.#seq}`;
      this.valid.add(this.#stable);
    }
    return { accessToken: this.#stable, expiresInSeconds: this.expiresInSeconds, sentAt };
  }

  async checkToken(accessToken: string): Promise<boolean> {
    this.checkCalls++;
    const valid = this.valid.has(accessToken);
    await this.checkGate;
    return valid;
  }

  // The login calls are not scripted (yet): a test that reaches one fails loudly.
  async code2Session(_app: AppCredentials, _jsCode: string): Promise<Code2SessionResult> {
    throw new Error('ScriptedWeChat does not script code2Session');
  }

  async checkSessionKey(_token: string, _openid: string, _signature: string): Promise<boolean> {
    throw new Error('ScriptedWeChat does not script checkSessionKey');
  }

  async resetSessionKey(
    _token: string,
    _openid: string,
    _signature: string,
  ): Promise<ResetSessionKeyResult> {
    throw new Error('ScriptedWeChat does not script resetSessionKey');
  }

  /** What another system fetching the same app would do: everything issued before dies. */
  invalidateAll(): void {
    this.valid.clear();
  }

  async #issue(endpoint: 'token'): Promise<FetchedToken> {
    const sentAt = this.clock.now();
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const accessToken = `tok-${++this.#seq}`;
    this.valid.add(accessToken);
    void endpoint;
    return { accessToken, expiresInSeconds: this.expiresInSeconds, sentAt };
  }
}

export const wechatError = (errcode: number, errmsg = 'scripted'): WeChatError =>
  new WeChatError('token', errcode, errmsg);
