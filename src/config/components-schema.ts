import * as z from 'zod';
import type { Secret } from '../shared/secret.js';
import type { ComponentConfig } from './config.js';
import { APP_ID, ticketsSchema } from './apps-schema.js';
import type { ConfigDeps } from './config-sources.js';
import { ENV_NAME, rejectDuplicateIds } from './schema-helpers.js';
import { resolveSecretSource } from './secret-source.js';

/**
 * `components[]`: third-party platforms (WeChat Open Platform 第三方平台). Each names its
 * component appid and three secrets from the Open Platform console, each from one source
 * (`<name>Env`, `<name>File`, or inline for development).
 */

const envName = z
  .string()
  .regex(ENV_NAME, 'expected an environment variable name such as WX_COMPONENT_SECRET')
  .optional();
const filePath = z.string().min(1, 'expected a file path').optional();

const SECRET_FIELDS = ['secret', 'messageToken', 'encodingAesKey'] as const;

export const componentShape = {
  componentAppId: z
    .string()
    .regex(APP_ID, 'expected 1 to 64 characters of A-Z, a-z, 0-9, "_" or "-" (e.g. wx0123...)')
    .describe("The third-party platform's component appid (docs/third-party.md)."),
  secretEnv: envName.describe(
    'The component AppSecret from this environment variable (or secretFile, or secret inline).',
  ),
  secretFile: filePath.describe('The component AppSecret from this file.'),
  secret: z.string().optional().describe('The component AppSecret inline (development only).'),
  messageTokenEnv: envName.describe(
    'The message-check Token of the Open Platform console, from this environment variable.',
  ),
  messageTokenFile: filePath.describe('The message-check Token from this file.'),
  messageToken: z
    .string()
    .optional()
    .describe('The message-check Token inline (development only).'),
  encodingAesKeyEnv: envName.describe(
    'The EncodingAESKey (43 characters) from this environment variable.',
  ),
  encodingAesKeyFile: filePath.describe('The EncodingAESKey from this file.'),
  encodingAesKey: z.string().optional().describe('The EncodingAESKey inline (development only).'),
  authorizerTickets: ticketsSchema.describe(
    'Tickets the leader keeps for every authorizer of the platform (jsapi, wx_card).',
  ),
};

/**
 * WeChat's EncodingAESKey: 43 base64 characters that decode (with one "=" appended) to the
 * 32-byte AES-256 key. Anything else could never decrypt a push, so it is refused at start.
 */
function aesKeyProblem(key: string): string | undefined {
  if (!/^[A-Za-z0-9+/]{43}$/.test(key))
    return 'expected 43 base64 characters (A-Z, a-z, 0-9, +, /)';
  if (Buffer.from(`${key}=`, 'base64').length !== 32) return 'does not decode to 32 bytes';
  return undefined;
}

function componentSchema(deps: ConfigDeps) {
  return z.strictObject(componentShape).transform((raw, ctx): ComponentConfig => {
    const resolved = SECRET_FIELDS.map((base) => ({
      base,
      got: resolveSecretSource(raw, base, deps),
    }));
    let failed = false;
    for (const { got } of resolved) {
      if ('problem' in got) {
        const path = got.key === '' ? [] : [got.key];
        ctx.issues.push({ code: 'custom', message: got.problem, input: undefined, path });
        failed = true;
      }
    }
    if (failed) return z.NEVER;
    const [secret, messageToken, aesKey] = resolved.map(({ got }) => got) as {
      secret: Secret;
      source: string;
    }[];
    const problem = aesKeyProblem(aesKey!.secret.reveal());
    if (problem) {
      const key = `encodingAesKey${aesKey!.source.startsWith('env') ? 'Env' : aesKey!.source.startsWith('file') ? 'File' : ''}`;
      ctx.issues.push({ code: 'custom', message: problem, input: undefined, path: [key] });
      return z.NEVER;
    }
    return {
      componentAppId: raw.componentAppId,
      secret: secret!.secret,
      secretSource: secret!.source,
      messageToken: messageToken!.secret,
      encodingAesKey: aesKey!.secret,
      authorizerTickets: raw.authorizerTickets,
    };
  });
}

/** `components[]`: default none; component appids unique (case-insensitively, as WeChat's are). */
export function componentsSchema(deps: ConfigDeps) {
  return z.preprocess(
    (v) => v ?? [],
    z
      .array(componentSchema(deps))
      .superRefine((components, ctx) =>
        rejectDuplicateIds(
          components,
          ctx,
          'componentAppId',
          'components',
          (c) => c.componentAppId,
        ),
      ),
  );
}
