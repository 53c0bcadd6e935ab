import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfig, type ConfigDeps } from '../../src/config/load-config.js';

/** `components[]` (third-party platforms): every problem names its key, never a secret. */
const AES = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const COMP = {
  componentAppId: 'wxcomponent00001',
  secretEnv: 'COMP_SECRET',
  messageTokenEnv: 'COMP_TOKEN',
  encodingAesKeyEnv: 'COMP_AES',
};
const deps = (env: Record<string, string> = {}): ConfigDeps => ({
  env: { COMP_SECRET: 'component-secret', COMP_TOKEN: 'msgtoken', COMP_AES: AES, ...env },
  readFile: () => {
    throw Object.assign(new Error('no'), { code: 'ENOENT' });
  },
  warn: () => undefined,
});
const GATEWAY = { listen: '127.0.0.1:0' };

function problems(raw: unknown, env?: Record<string, string>): string[] {
  try {
    parseConfig(raw, deps(env));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.key}: ${i.problem}`);
  }
  throw new Error('expected a ConfigError');
}

describe('components[] configuration', () => {
  it('a platform alone is a valid configuration (no apps needed); secrets resolve from their sources', () => {
    const c = parseConfig(
      { gateway: GATEWAY, components: [{ ...COMP, authorizerTickets: ['jsapi'] }] },
      deps(),
    );
    expect(c.apps).toEqual([]);
    expect(c.components).toHaveLength(1);
    const [p] = c.components;
    expect(p!.secret.reveal()).toBe('component-secret');
    expect(p!.messageToken.reveal()).toBe('msgtoken');
    expect(p!.encodingAesKey.reveal()).toBe(AES);
    expect(p!.authorizerTickets).toEqual(['jsapi']);
    expect(JSON.stringify(c.components)).not.toContain('component-secret');
  });

  it('neither apps nor components is refused under apps', () => {
    expect(problems({})).toEqual([
      'apps: at least one app is required (or a third-party platform under components)',
    ]);
  });

  it.each([
    [
      { ...COMP, encodingAesKeyEnv: undefined, encodingAesKey: 'short' },
      'components[0].encodingAesKey: expected 43 base64 characters',
    ],
    [
      { ...COMP, secretEnv: undefined },
      'components[0]: one of secretEnv, secretFile or secret is required',
    ],
    [
      { ...COMP, messageToken: 'x' },
      'components[0]: set exactly one of messageTokenEnv, messageTokenFile or messageToken',
    ],
    [
      { ...COMP, componentAppId: 'bad id!' },
      'components[0].componentAppId: expected 1 to 64 characters',
    ],
    [
      { ...COMP, authorizerTickets: ['jsapi', 'jsapi'] },
      'components[0].authorizerTickets[1]: duplicate ticket type',
    ],
    [{ ...COMP, unknownKey: 1 }, 'components[0]'],
  ])('refuses %j naming the key', (component, says) => {
    const found = problems({ gateway: GATEWAY, components: [component] });
    expect(
      found.some((p) => p.startsWith(says)),
      found.join('\n'),
    ).toBe(true);
  });

  it('an env-sourced key that does not decode to 32 bytes is named by its Env key', () => {
    const found = problems({ gateway: GATEWAY, components: [COMP] }, { COMP_AES: '!'.repeat(43) });
    expect(found).toEqual([
      'components[0].encodingAesKeyEnv: expected 43 base64 characters (A-Z, a-z, 0-9, +, /)',
    ]);
  });

  it('two platforms with one appid, a platform that is also an app, a platform without the gateway', () => {
    expect(
      problems({
        gateway: GATEWAY,
        components: [COMP, { ...COMP, componentAppId: 'WXCOMPONENT00001' }],
      }),
    ).toEqual([
      'components[1].componentAppId: duplicate componentAppId "WXCOMPONENT00001" (also components[0].componentAppId)',
    ]);
    expect(
      problems({
        gateway: GATEWAY,
        apps: [{ appId: COMP.componentAppId, mode: 'classic', secretEnv: 'COMP_SECRET' }],
        components: [COMP],
      }),
    ).toEqual([
      `components[0].componentAppId: componentAppId "${COMP.componentAppId}" is also configured under apps`,
    ]);
    expect(problems({ components: [COMP] })[0]).toMatch(
      /^gateway\.listen: a third-party platform needs gateway\.listen/,
    );
  });

  it('callers may name component:<id>/* ; other shapes are refused', () => {
    const caller = (apps: string[]) => ({
      gateway: GATEWAY,
      components: [COMP],
      auth: {
        callers: [{ name: 'saas', keySha256: 'a'.repeat(64), apps, scopes: ['token:read'] }],
      },
    });
    expect(
      parseConfig(caller([`component:${COMP.componentAppId}/*`]), deps()).auth.callers[0]!.apps,
    ).toEqual([`component:${COMP.componentAppId}/*`]);
    expect(problems(caller(['component:*']))[0]).toContain(
      'expected an appId, "*" or "component:<componentAppId>/*"',
    );
  });
});
