import type { Command } from 'commander';
import {
  forceRefresh,
  getTicket,
  getToken,
  listAllApps,
  listAuditEvents,
  signJsapi,
  tokenClient,
} from './grpc-client.js';
import type { TicketType } from '../grpc/generated/wxtoken/v1/TicketType.js';
import { registerHealthCommand } from './health-command.js';
import {
  addConnectionOptions,
  resolveConnection,
  type Connection,
  type ConnectionFlags,
} from './connection.js';
import { DEFAULT_ADDR, fail, tsToMs } from './command-output.js';
import { plainTable } from './plain-table.js';

function fmtIn(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.round((ms - Date.now()) / 1000);
  return s >= 0 ? `in ${s}s` : `${-s}s ago`;
}

/**
 * A TokenService client for the command's connection flags, and the connection (for error
 * messages); a bad flag ends the command (exit 2).
 */
function clientFor(o: ConnectionFlags): [ReturnType<typeof tokenClient>, Connection] {
  try {
    const c = resolveConnection(o);
    return [tokenClient(c.addr, c.key, c), c];
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
}

/** `--ticket jsapi|wx_card` as the proto names it; anything else ends the command (exit 2). */
function ticketTypeFlag(flag: string): TicketType {
  if (flag === 'jsapi') return 'TICKET_TYPE_JSAPI';
  if (flag === 'wx_card') return 'TICKET_TYPE_WX_CARD';
  console.error(`error: --ticket expects jsapi or wx_card, got "${flag}"`);
  process.exit(2);
}

/** `get`, `refresh`, `status`, `audit`, `health`: thin gRPC clients for on-call, --json for scripts. */
export function registerOncallCommands(program: Command): void {
  addConnectionOptions(program.command('get'), DEFAULT_ADDR)
    .description("print an app's current access_token (or, with --ticket, a ticket) and its expiry")
    .argument('<app>', 'AppID')
    .option('--ticket <type>', "print the app's ticket instead: jsapi or wx_card")
    .option('--json', 'machine-readable output')
    .action(async (app: string, o: ConnectionFlags & { ticket?: string; json?: boolean }) => {
      const type = o.ticket === undefined ? undefined : ticketTypeFlag(o.ticket);
      const [client, connection] = clientFor(o);
      try {
        const t = type
          ? await getTicket(client, app, type).then((r) => ({ ...r, value: r.ticket }))
          : await getToken(client, app).then((r) => ({ ...r, value: r.access_token }));
        const expiresAt = tsToMs(t.expires_at);
        if (o.json) {
          console.log(
            JSON.stringify({
              appId: t.app_id,
              ...(type ? { ticket: t.value, type: o.ticket } : { accessToken: t.value }),
              expiresAt: new Date(expiresAt ?? 0).toISOString(),
              generation: Number(t.generation),
            }),
          );
        } else {
          console.log(t.value);
          console.error(`expires ${fmtIn(expiresAt)} (generation ${t.generation})`);
        }
      } catch (err) {
        fail(err, Boolean(o.json), connection);
      } finally {
        client.close();
      }
    });

  addConnectionOptions(program.command('sign-jsapi'), DEFAULT_ADDR)
    .description('print the JS-SDK wx.config signature of a page (made with the jsapi ticket)')
    .argument('<app>', 'AppID')
    .argument('<url>', 'the page URL as the page sees it (its #fragment is dropped)')
    .action(async (app: string, url: string, o: ConnectionFlags) => {
      const [client, connection] = clientFor(o);
      try {
        const s = await signJsapi(client, app, url);
        console.log(
          JSON.stringify({
            appId: s.app_id,
            timestamp: Number(s.timestamp),
            nonceStr: s.nonce_str,
            signature: s.signature,
          }),
        );
      } catch (err) {
        fail(err, true, connection);
      } finally {
        client.close();
      }
    });

  addConnectionOptions(program.command('refresh'), DEFAULT_ADDR)
    .description("force a refresh of an app's token (audited)")
    .argument('<app>', 'AppID')
    .requiredOption('--reason <text>', 'why, for the audit log')
    .option('--stale <token>', 'refresh only if this token is still current (compare-and-refresh)')
    .option('--json', 'machine-readable output')
    .action(
      async (
        app: string,
        o: { addr: string; key?: string; reason: string; stale?: string; json?: boolean },
      ) => {
        const [client, connection] = clientFor(o);
        try {
          const r = await forceRefresh(client, {
            app_id: app,
            stale_token: o.stale ?? '',
            reason: o.reason,
          });
          const expiresAt = tsToMs(r.token?.expires_at);
          if (o.json)
            console.log(
              JSON.stringify({
                appId: app,
                refreshed: r.refreshed,
                generation: Number(r.token?.generation ?? 0),
                expiresAt: new Date(expiresAt ?? 0).toISOString(),
              }),
            );
          else
            console.log(
              `${app}: ${r.refreshed ? 'refreshed' : 'not refreshed (token unchanged)'}, generation ${r.token?.generation}, expires ${fmtIn(expiresAt)}`,
            );
        } catch (err) {
          fail(err, Boolean(o.json), connection);
        } finally {
          client.close();
        }
      },
    );

  addConnectionOptions(program.command('status'), DEFAULT_ADDR)
    .description(
      'show every credential of every app: state, generation, expiry, next refresh, fetches today, forced-refresh budget, last error',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: ConnectionFlags & { json?: boolean }) => {
      const [client, connection] = clientFor(o);
      try {
        const r = { apps: await listAllApps(client) };
        // One row per credential: the access_token, then each of the app's tickets.
        const state = (v: string): string => v.replace('APP_STATE_', '').toLowerCase();
        const rows = r.apps.flatMap((a) => [
          {
            app: a.app_id,
            credential: 'access_token',
            mode: a.mode.replace('APP_MODE_', '').toLowerCase(),
            state: state(a.state),
            generation: Number(a.generation),
            expiresAt: tsToMs(a.expires_at),
            nextRefreshAt: tsToMs(a.next_refresh_at),
            lastRefreshAt: tsToMs(a.last_refresh_at),
            fetchesToday: a.fetches_today,
            forceBudgetLeft: a.force_budget_remaining as number | null,
            lastError: a.last_error ? `${a.last_error.errcode} ${a.last_error.kind}` : '',
            leader: a.leader,
            store: a.store,
            storeTopology: a.store_topology,
            storePrimary: a.store_primary,
          },
          ...a.tickets.map((t) => ({
            app: a.app_id,
            credential: t.kind,
            mode: a.mode.replace('APP_MODE_', '').toLowerCase(),
            state: state(t.state),
            generation: Number(t.generation),
            expiresAt: tsToMs(t.expires_at),
            nextRefreshAt: tsToMs(t.next_refresh_at),
            lastRefreshAt: tsToMs(t.last_refresh_at),
            fetchesToday: t.fetches_today,
            forceBudgetLeft: null,
            lastError: t.last_error ? `${t.last_error.errcode} ${t.last_error.kind}` : '',
            leader: a.leader,
            store: a.store,
            storeTopology: a.store_topology,
            storePrimary: a.store_primary,
          })),
        ]);
        const iso = (ms: number | undefined): string | null =>
          ms ? new Date(ms).toISOString() : null;
        if (o.json) {
          console.log(
            JSON.stringify({
              apps: rows.map((x) => ({
                ...x,
                expiresAt: iso(x.expiresAt),
                nextRefreshAt: iso(x.nextRefreshAt),
                lastRefreshAt: iso(x.lastRefreshAt),
              })),
            }),
          );
        } else {
          // The replica's own facts once, above the table, so a row fits a terminal (issue 17).
          const first = rows[0];
          if (first) {
            const primary = first.storePrimary ? `, primary ${first.storePrimary}` : '';
            console.log(
              `replica: ${first.leader ? 'leader' : 'follower'}; store ${first.store} ` +
                `(${first.storeTopology}${primary})`,
            );
            console.log(
              'today: upstream fetches since 00:00 Beijing time; forceLeft: forced refreshes left today',
            );
          }
          console.log(
            plainTable(
              rows.map((x) => ({
                app: x.app,
                credential: x.credential.replace('_ticket', ''),
                mode: x.mode,
                state: x.state,
                gen: x.generation,
                expires: fmtIn(x.expiresAt),
                nextRefresh: fmtIn(x.nextRefreshAt),
                lastFetch: fmtIn(x.lastRefreshAt),
                today: x.fetchesToday,
                forceLeft: x.forceBudgetLeft ?? '-',
                lastError: x.lastError || '-',
              })),
            ),
          );
        }
      } catch (err) {
        fail(err, Boolean(o.json), connection);
      } finally {
        client.close();
      }
    });

  addConnectionOptions(program.command('audit'), DEFAULT_ADDR)
    .description('show the audit trail: ForceRefresh and admin calls, newest first (needs admin)')
    .option('--app <app>', "only this app's events")
    .option('--limit <n>', 'at most this many events (1-1000)', '50')
    .option('--json', 'machine-readable output (one JSON object)')
    .action(
      async (o: { app?: string; limit: string; addr: string; key?: string; json?: boolean }) => {
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          console.error(
            `wxtoken audit: --limit expects a whole number from 1 to 1000, got "${o.limit}"`,
          );
          process.exit(2);
        }
        const [client, connection] = clientFor(o);
        try {
          const r = await listAuditEvents(client, { app_id: o.app ?? '', limit });
          const rows = r.events.map((e) => ({
            at: new Date(tsToMs(e.at) ?? 0).toISOString(),
            caller: e.caller,
            app: e.app_id,
            action: e.action,
            result: e.result,
            reason: e.reason,
            detail: e.detail,
            replica: e.replica,
          }));
          if (o.json) console.log(JSON.stringify({ events: rows }));
          else if (rows.length === 0) console.log('no audit events');
          else console.table(rows);
        } catch (err) {
          fail(err, Boolean(o.json), connection);
        } finally {
          client.close();
        }
      },
    );

  registerHealthCommand(program, DEFAULT_ADDR);
}
