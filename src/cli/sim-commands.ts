import type { Command } from 'commander';

/** Where `wxtoken sim code` finds the simulator: --sim, WXTOKEN_SIM, or `wxtoken sim`'s default. */
export const DEFAULT_SIM = process.env.WXTOKEN_SIM ?? 'http://127.0.0.1:8090';

/**
 * `wxtoken sim code APP`: asks a running simulator (`wxtoken dev`'s or `wxtoken sim`'s) for a
 * wx.login() code, as a device would get one, so the login flow runs with what the project
 * ships (issue 17: no curl or grpcurl needed). Prints the code alone, for `$(...)`.
 */
export function registerSimCommands(sim: Command): void {
  sim
    .command('code')
    .description(
      "print a wx.login() code from a running simulator (what the device's wx.login() gets)",
    )
    .argument('<app>', 'AppID configured in the simulator')
    .option('--sim <url>', 'simulator URL (or WXTOKEN_SIM)', DEFAULT_SIM)
    .option('--user <name>', 'the same name gives the same openid (default: a new user)')
    .action(async (app: string, o: { sim: string; user?: string }) => {
      const base = o.sim.replace(/\/+$/, '');
      const url = `${base}/__sim/apps/${encodeURIComponent(app)}/codes`;
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(o.user === undefined ? {} : { user: o.user }),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (err) {
        console.error(
          `error: cannot reach the simulator at ${base} (${(err as Error).message}): ` +
            'pass the URL `wxtoken dev` prints with --sim URL (or WXTOKEN_SIM)',
        );
        process.exit(1);
      }
      const body = (await res.json().catch(() => ({}))) as {
        code?: string;
        error?: string;
        errmsg?: string;
      };
      if (!res.ok || typeof body.code !== 'string') {
        const why = body.error ?? body.errmsg ?? 'no code in the answer';
        console.error(`error: the simulator at ${base} answered HTTP ${res.status}: ${why}`);
        process.exit(1);
      }
      console.log(body.code);
    });
}
