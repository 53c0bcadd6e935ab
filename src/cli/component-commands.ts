import type { Command } from 'commander';
import {
  componentClient,
  createPreAuthCode,
  listAuthorizers,
  recoverAuthorizers,
} from './component-client.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from './connection.js';
import { DEFAULT_ADDR, fail, tsToMs } from './command-output.js';

/** `wxtoken component list|recover|preauth`: a third-party platform's operations. */
export function registerComponentCommands(program: Command): void {
  const component = program
    .command('component')
    .description(
      "a third-party platform's authorizers: list them, recover them after a lost store",
    );

  const run = async <T>(
    o: ConnectionFlags & { json?: boolean },
    call: (c: ReturnType<typeof componentClient>) => Promise<T>,
    print: (r: T) => void,
  ): Promise<void> => {
    let connection;
    try {
      connection = resolveConnection(o);
    } catch (err) {
      console.error(`error: ${(err as Error).message}`);
      process.exit(2);
    }
    const client = componentClient(connection.addr, connection.key, connection);
    try {
      print(await call(client));
    } catch (err) {
      fail(err, Boolean(o.json), connection);
    } finally {
      client.close();
    }
  };

  addConnectionOptions(component.command('list'), DEFAULT_ADDR)
    .description('every authorizer of the platform, its state and token expiry (never a token)')
    .argument('<componentAppId>', 'the platform appid')
    .option('--json', 'machine-readable output (one object per line)')
    .action(async (id: string, o: ConnectionFlags & { json?: boolean }) =>
      run(
        o,
        async (c) => {
          const rows = [];
          let pageToken = '';
          do {
            const page = await listAuthorizers(c, id, { pageSize: 1000, pageToken });
            rows.push(...page.authorizers);
            pageToken = page.next_page_token;
          } while (pageToken);
          return rows;
        },
        (rows) => {
          for (const a of rows) {
            const expires = tsToMs(a.expires_at);
            const row = {
              authorizerAppId: a.authorizer_app_id,
              state: a.state.replace(/^APP_STATE_/, '').toLowerCase(),
              authorizedAt: new Date(tsToMs(a.authorized_at) ?? 0).toISOString(),
              expiresAt: expires === undefined ? null : new Date(expires).toISOString(),
            };
            console.log(o.json ? JSON.stringify(row) : Object.values(row).join('  '));
          }
          if (!o.json) console.error(`${rows.length} authorizers`);
        },
      ),
    );

  addConnectionOptions(component.command('recover'), DEFAULT_ADDR)
    .description(
      "rebuild every authorizer's refresh token from WeChat (api_get_authorizer_list) after a lost store",
    )
    .argument('<componentAppId>', 'the platform appid')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: ConnectionFlags & { json?: boolean }) =>
      run(
        o,
        (c) => recoverAuthorizers(c, id),
        (n) =>
          console.log(o.json ? JSON.stringify({ recovered: n }) : `recovered ${n} authorizers`),
      ),
    );

  addConnectionOptions(component.command('preauth'), DEFAULT_ADDR)
    .description("a pre-auth code for the platform's authorization page")
    .argument('<componentAppId>', 'the platform appid')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: ConnectionFlags & { json?: boolean }) =>
      run(
        o,
        (c) => createPreAuthCode(c, id),
        (p) => {
          const expiresAt = new Date(tsToMs(p.expires_at) ?? 0).toISOString();
          console.log(
            o.json ? JSON.stringify({ preAuthCode: p.pre_auth_code, expiresAt }) : p.pre_auth_code,
          );
        },
      ),
    );
}
