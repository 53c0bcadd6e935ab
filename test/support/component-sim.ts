import { randomBytes } from 'node:crypto';
import type { SimControl } from './sim-control.js';

/** A third-party platform's console values, for a test config and the simulator alike. */
export interface TestComponent {
  readonly componentAppId: string;
  readonly secret: string;
  readonly messageToken: string;
  /** 43 base64 characters (32 bytes), as the Open Platform console gives it. */
  readonly encodingAesKey: string;
}

export function newTestComponent(componentAppId: string): TestComponent {
  return {
    componentAppId,
    secret: randomBytes(16).toString('hex'),
    messageToken: `tok${randomBytes(6).toString('hex')}`,
    encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
  };
}

/** The `components:` entry of a YAML config, its secrets from env variables named after `env`. */
export function componentYaml(c: TestComponent, extra = ''): string {
  return `  - { componentAppId: ${c.componentAppId}, secret: ${c.secret}, messageToken: ${c.messageToken}, encodingAesKey: "${c.encodingAesKey}"${extra} }`;
}

export interface PushResult {
  status: number;
  body: string;
  authorizationCode?: string;
  componentVerifyTicket?: string;
}

/** The simulator's side of a platform: configure, authorize, push. */
export class ComponentSim {
  constructor(
    private readonly control: SimControl,
    readonly component: TestComponent,
  ) {}

  get #base(): string {
    return `/__sim/components/${this.component.componentAppId}`;
  }

  configure(eventUrl: string): Promise<unknown> {
    return this.control.request('POST', '/__sim/components', { ...this.component, eventUrl });
  }

  pushVerifyTicket(): Promise<PushResult> {
    return this.control.request('POST', `${this.#base}/push`, {
      infoType: 'component_verify_ticket',
    });
  }

  /** A customer authorizes: the authorizer exists at WeChat and the `authorized` event is pushed. */
  async authorize(
    settings: Record<string, unknown> = {},
  ): Promise<{ appId: string; push: PushResult }> {
    const created = await this.control.request<{ authorizerAppId: string }>(
      'POST',
      `${this.#base}/authorizers`,
      settings,
    );
    const push = await this.push('authorized', created.authorizerAppId);
    return { appId: created.authorizerAppId, push };
  }

  /** Creates `count` authorizers at WeChat without pushing anything (a store to recover). */
  async createAuthorizers(
    count: number,
    settings: Record<string, unknown> = {},
  ): Promise<string[]> {
    const out = await this.control.request<
      { authorizerAppId: string } | { authorizers: { authorizerAppId: string }[] }
    >('POST', `${this.#base}/authorizers`, { ...settings, count });
    return 'authorizers' in out
      ? out.authorizers.map((a) => a.authorizerAppId)
      : [out.authorizerAppId];
  }

  push(infoType: string, authorizerAppId?: string): Promise<PushResult> {
    return this.control.request('POST', `${this.#base}/push`, {
      infoType,
      ...(authorizerAppId ? { authorizerAppId } : {}),
    });
  }

  unauthorize(authorizerAppId: string): Promise<unknown> {
    return this.control.request('DELETE', `${this.#base}/authorizers/${authorizerAppId}`);
  }

  counters(): Promise<{
    componentTokenIssued: number;
    authorizerTokenCalls: number;
    listCalls: number;
    errors: Record<string, number>;
  }> {
    return this.control.request('GET', `${this.#base}/counters`);
  }
}
