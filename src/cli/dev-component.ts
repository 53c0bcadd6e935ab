import { randomBytes } from 'node:crypto';

/** `wxtoken dev`'s third-party platform: its console values and how it is brought to life. */
export interface DevComponent {
  readonly componentAppId: string;
  readonly secret: string;
  readonly messageToken: string;
  readonly encodingAesKey: string;
}

export const DEV_COMPONENT_ID = 'wxdemocomponent01';
const DEV_AUTHORIZERS = 3;

export function newDevComponent(): DevComponent {
  return {
    componentAppId: DEV_COMPONENT_ID,
    secret: randomBytes(16).toString('hex'),
    messageToken: `demo${randomBytes(6).toString('hex')}`,
    // 43 base64 characters, as the Open Platform console shows an EncodingAESKey.
    encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
  };
}

/**
 * Plays WeChat's part for the demo platform through the simulator's control routes: the
 * platform is registered with the gateway's events URL, a verify ticket is pushed (as WeChat
 * does every 10 minutes), and a few customers authorize it (each push is an `authorized` event
 * the gateway decrypts and acts on). Resolves with the authorizers' appids.
 */
export async function startDevComponent(
  simUrl: string,
  component: DevComponent,
  gatewayUrl: string,
  expiresInSeconds: number,
): Promise<string[]> {
  const control = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${simUrl}/__sim/components${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`simulator ${path || '/'}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const base = `/${component.componentAppId}`;
  // Pushes a verify ticket at once and every 10 minutes, as WeChat does.
  await control('', {
    ...component,
    eventUrl: `${gatewayUrl}/wechat/component/${component.componentAppId}/events`,
    verifyTicketIntervalSeconds: 600,
  });
  const created = await control<{ authorizers: { authorizerAppId: string }[] }>(
    `${base}/authorizers`,
    { count: DEV_AUTHORIZERS, expiresInSeconds },
  );
  const ids = created.authorizers.map((a) => a.authorizerAppId);
  for (const authorizerAppId of ids) {
    const r = await control<{ status: number; body: string }>(`${base}/push`, {
      infoType: 'authorized',
      authorizerAppId,
    });
    if (r.body !== 'success') throw new Error(`authorization push answered ${r.status}`);
  }
  return ids;
}
