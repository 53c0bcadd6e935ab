import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import type { Code2SessionResponse__Output } from '../grpc/generated/wxtoken/v1/Code2SessionResponse.js';
import type { LoginServiceClient } from '../grpc/generated/wxtoken/v1/LoginService.js';
import { loadProto } from '../grpc/proto.js';
import { DEFAULT_ADDR, fail, tsToMs } from './command-output.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from './connection.js';
import { bearerInterceptors, opts, settle } from './grpc-client.js';

/**
 * `wxtoken login APP CODE`: the mini-program login exchange (Code2Session) as a business server
 * makes it, so the README and the dev banner need no grpcurl (issue 17). It prints who logged in,
 * never the session_key (even when the server would send one) nor the session handle: both
 * are the user's session credentials, and a terminal is not where they belong.
 */
export function registerLoginCommand(program: Command): void {
  addConnectionOptions(program.command('login'), DEFAULT_ADDR)
    .description(
      "exchange a wx.login() code (Code2Session, scope login) and print the user's openid and unionid",
    )
    .argument('<app>', 'AppID of the mini program')
    .argument('<code>', 'the code wx.login() gave the device (in dev: wxtoken sim code APP)')
    .option('--json', 'machine-readable output')
    .action(async (app: string, code: string, o: ConnectionFlags & { json?: boolean }) => {
      let c;
      try {
        c = resolveConnection(o);
      } catch (err) {
        console.error(`error: ${(err as Error).message}`);
        process.exit(2);
      }
      const proto = loadProto();
      const client: LoginServiceClient = new proto.wxtoken.v1.LoginService(c.addr, c.credentials, {
        ...c.options,
        interceptors: bearerInterceptors(c.key),
      });
      try {
        const r = await new Promise<Code2SessionResponse__Output>((resolve, reject) =>
          client.Code2Session(
            { app_id: app, js_code: code },
            new grpc.Metadata(),
            opts(15_000),
            settle(resolve, reject),
          ),
        );
        const expiresAt = new Date(tsToMs(r.expires_at) ?? 0).toISOString();
        if (o.json) {
          console.log(
            JSON.stringify({ appId: app, openid: r.openid, unionid: r.unionid, expiresAt }),
          );
        } else {
          console.log(`openid  ${r.openid}`);
          console.log(
            `unionid ${r.unionid || '(none: the app is not bound to an Open Platform account)'}`,
          );
          console.log(`session expires ${expiresAt}`);
        }
      } catch (err) {
        fail(err, Boolean(o.json), c);
      } finally {
        client.close();
      }
    });
}
