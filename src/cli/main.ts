import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { ConfigError } from '../config/config-error.js';
import { loadConfigFile, parseConfig, resolveConfigPath } from '../config/load-config.js';
import { startServer } from '../main.js';
import { WeChatSimulator } from '../sim/wechat-simulator.js';
import { registerOncallCommands } from './oncall-commands.js';
import { registerComponentCommands } from './component-commands.js';
import { registerLoginCommand } from './login-command.js';
import { registerSimCommands } from './sim-commands.js';
import { newDevComponent, startDevComponent } from './dev-component.js';
import type { Logger } from '../shared/logger.js';
import { runUntilSignal } from './run-until-signal.js';
import { isLoopbackListen } from './listen-address.js';
import { DEFAULT_ADDR } from './command-output.js';
import { DEFAULT_SIM } from './sim-commands.js';
import { boundHeapGrowth, governsHeapGrowth } from './heap-growth.js';
import {
  missingServeEnv,
  missingServeFlags,
  serveEnvAssignments,
  SERVE_NODE_FLAGS,
} from './node-flags.js';

/** host:port of WXTOKEN_SIM (or the default simulator URL), where `dev` and `sim` listen. */
const DEFAULT_SIM_LISTEN = URL.canParse(DEFAULT_SIM) ? new URL(DEFAULT_SIM).host : '127.0.0.1:8090';

const PACKAGE = createRequire(import.meta.url)('../../package.json') as { version: string };

const program = new Command()
  .name('wxtoken')
  .description('WeChat access_token central control server (中控服务器) over gRPC')
  .version(PACKAGE.version, '-V, --version', 'print the version')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the token server from a YAML config file')
  .option('-c, --config <file>', 'config file (or WXTOKEN_CONFIG)')
  .option('--insecure', 'serve without caller auth on a non-loopback address (not for production)')
  .action(async (o: { config?: string; insecure?: boolean }) => {
    const path = resolveConfigPath(o.config);
    if (!path) {
      console.error('wxtoken serve: no config file: pass --config FILE or set WXTOKEN_CONFIG');
      process.exit(2);
    }
    let config;
    try {
      config = loadConfigFile(path);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`${path}: ${err.message}`);
        process.exit(2);
      }
      throw err;
    }
    // Safe by default: without caller auth, only loopback callers can reach either front door.
    const doors = [
      ['grpc.listen', config.grpc.listen],
      ['gateway.listen', config.gateway.listen],
    ].filter(([, listen]) => listen !== '' && !isLoopbackListen(listen!));
    for (const [key, listen] of doors) {
      if (config.auth.callers.length === 0) {
        if (!o.insecure) {
          console.error(
            `${path}: ${key} ${listen} is not a loopback address and auth.callers is empty: ` +
              'anyone who can reach it could act as your WeChat apps. Configure auth.callers (docs/security.md) ' +
              'or pass --insecure to accept the risk.',
          );
          process.exit(2);
        }
        console.error(`wxtoken serve: --insecure: serving ${listen} with NO caller authentication`);
      } else if (!config.tls) {
        // Caller keys cross the network in clear text without TLS (the gateway's SDKs even put
        // theirs in the URL): anyone on the path can replay them.
        console.error(
          `wxtoken serve: warning: ${key} ${listen} is not loopback and tls is not ` +
            'configured: caller keys travel in plain text. Configure tls (docs/security.md) or ' +
            'terminate TLS in front of wxtoken.',
        );
      }
    }
    // A platform's authorizers make a heap large enough for V8's idle compactions and full
    // collections to stall the loop (node-flags.ts); without platforms the heap is small and
    // the flags matter little.
    const missing = missingServeFlags();
    const missingEnv = missingServeEnv();
    if (config.components.length > 0 && missing.length + missingEnv.length > 0) {
      console.error(
        `wxtoken serve: note: started without ${[...missingEnv, ...missing].join(' ')}: with ` +
          "many authorizers Node's, V8's and glibc's defaults pause the event loop longer, hold " +
          'more memory and spend more CPU per call; run ' +
          `\`${serveEnvAssignments()} node ${SERVE_NODE_FLAGS.join(' ')} bin/wxtoken.js serve\` (the image ` +
          'and the installed wxtoken binary do).',
      );
    }
    // Signals are handled from the first moment: one that arrives while starting, or right after
    // "wxtoken serving" is written, waits for the start and then stops cleanly. Installed after
    // the start, a SIGTERM in between met the default action and killed the process outright.
    const starting = startServer(config);
    let log: Logger | undefined;
    // A leader of many authorizers bounds the garbage its heap lets pile up (heap-growth.ts).
    // A change made while starting (a store of many authorizers read back) is logged once the
    // logger exists.
    let growthBeforeLog: { heapGrowingPercent: number; oldGenerationMb: number } | undefined;
    const unbound = governsHeapGrowth()
      ? boundHeapGrowth((percent, live) => {
          const fields = {
            heapGrowingPercent: percent,
            oldGenerationMb: Math.round(live / 2 ** 20),
          };
          if (log) log.info(fields, 'heap growth set');
          else growthBeforeLog = fields;
        })
      : () => undefined;
    runUntilSignal(
      async () => {
        unbound();
        await (await starting).stop();
      },
      (err) => (log ? log.error({ err }, 'shutdown failed') : console.error(err)),
    );
    try {
      log = (await starting).log;
      if (growthBeforeLog) log.info(growthBeforeLog, 'heap growth set');
    } catch (err) {
      // Files named by the config (TLS) are only read at start: still a config error, exit 2.
      if (err instanceof ConfigError) {
        console.error(`${path}: ${err.message}`);
        process.exit(2);
      }
      throw err;
    }
  });

const simCommand = program
  .command('sim')
  .description(
    'run the WeChat API simulator alone (for integration tests); `sim code`: a login code',
  )
  .option('--listen <host:port>', 'address to listen on (or WXTOKEN_SIM)', DEFAULT_SIM_LISTEN)
  .option('--app <appId:secret...>', 'preconfigure apps (more can be added via POST /__sim/apps)')
  .option('--expires-in <seconds>', 'token lifetime for preconfigured apps', '7200')
  .option('--overlap <seconds>', 'old-token overlap after a re-fetch', '300')
  .action(async (o: { listen: string; app?: string[]; expiresIn: string; overlap: string }) => {
    const sim = new WeChatSimulator({
      apps: (o.app ?? []).map((pair) => {
        const [appId, secret] = pair.split(':');
        if (!appId || !secret) {
          console.error(`wxtoken sim: --app expects appId:secret, got "${pair}"`);
          process.exit(2);
        }
        return {
          appId,
          secret,
          expiresInSeconds: Number(o.expiresIn),
          overlapSeconds: Number(o.overlap),
        };
      }),
    });
    const { url } = await sim.listen(o.listen);
    console.log(`WeChat simulator listening on ${url} (control API under ${url}/__sim/)`);
    runUntilSignal(
      () => sim.close(),
      (err) => console.error(err),
    );
  });

program
  .command('dev')
  .description('simulator + server on the embedded store with demo apps: try it in one command')
  // The defaults are where the other commands look (WXTOKEN_ADDR, WXTOKEN_SIM), so every README
  // step runs as written against `wxtoken dev`, on these defaults or on the variables' ports.
  .option('--listen <host:port>', 'gRPC address (or WXTOKEN_ADDR)', DEFAULT_ADDR)
  .option('--sim-listen <host:port>', 'simulator address (or WXTOKEN_SIM)', DEFAULT_SIM_LISTEN)
  .option('--gateway-listen <host:port>', 'WeChat-compatible HTTP gateway address', '127.0.0.1:0')
  .option(
    '--metrics-listen <host:port>',
    'Prometheus /metrics address ("" turns it off)',
    '127.0.0.1:0',
  )
  .option('--expires-in <seconds>', 'demo token lifetime, short to watch rotations', '7200')
  .action(
    async (o: {
      listen: string;
      simListen: string;
      gatewayListen: string;
      metricsListen: string;
      expiresIn: string;
    }) => {
      const demo = [
        { appId: 'wxdemo0000000001', mode: 'classic' as const, tickets: ['jsapi' as const] },
        { appId: 'wxdemo0000000002', mode: 'stable' as const, tickets: [] },
      ];
      const secrets = demo.map(() => randomBytes(16).toString('hex'));
      const component = newDevComponent();
      const expiresInSeconds = Number(o.expiresIn);
      // Short demo lifetimes scale WeChat's 300-of-7200 s windows down so rotations are visible.
      const window = Math.min(300, expiresInSeconds / 4);
      const sim = new WeChatSimulator({
        apps: demo.map((a, i) => ({
          appId: a.appId,
          secret: secrets[i]!,
          expiresInSeconds,
          ticketLifetimeSeconds: expiresInSeconds,
          overlapSeconds: window,
          stableWindowSeconds: window,
        })),
      });
      const { url } = await sim.listen(o.simListen);
      const config = parseConfig(
        {
          grpc: { listen: o.listen },
          gateway: { listen: o.gatewayListen, passThrough: true },
          metrics: { listen: o.metricsListen },
          wechat: { baseUrl: url, timeoutMs: 3000 },
          refresh: { aheadSeconds: window, stableWindowSeconds: window },
          log: { level: process.env.WXTOKEN_LOG_LEVEL ?? 'info', pretty: true },
          apps: demo.map((a, i) => ({ ...a, secret: secrets[i] })),
          components: [component],
        },
        { env: process.env, readFile: () => '', warn: () => undefined },
      );
      const starting = startServer(config);
      // Before the banner, for the reason given in `serve`.
      runUntilSignal(
        async () => {
          await (await starting).stop();
          await sim.close();
        },
        (err) => console.error('wxtoken dev: shutdown failed:', err),
      );
      const server = await starting;
      const addr = o.listen.replace(/:\d+$/, `:${server.grpcPort}`);
      const gateway = `http://${o.gatewayListen.replace(/:\d+$/, `:${server.gatewayPort ?? 0}`)}`;
      const metrics =
        server.metricsPort === undefined
          ? 'off (--metrics-listen HOST:PORT turns it on)'
          : `http://${o.metricsListen.replace(/:\d+$/, `:${server.metricsPort}`)}/metrics`;
      const authorizers = await startDevComponent(url, component, gateway, expiresInSeconds);
      const app = demo[0]!.appId;
      // Every step runs with what the project ships (issue 17); grpcurl is only an alternative.
      console.log(`
wxtoken dev is running.
  gRPC           ${addr}   (reflection on: grpcurl -plaintext ${addr} list)
  gateway        ${gateway}   (WeChat's own paths: point an SDK's API host here)
  simulator      ${url}   (control routes: ${url}/__sim/)
  metrics        ${metrics}
  demo apps      ${demo.map((a) => `${a.appId} (${a.mode})`).join(', ')}
  third-party    ${component.componentAppId}, authorized by ${authorizers.join(', ')}

Try (in another terminal, from this folder):
  npx wxtoken get ${app} --addr ${addr}
  npx wxtoken status --addr ${addr}
  npx wxtoken refresh ${app} --reason "trying it out" --addr ${addr}
  npx wxtoken get ${app} --ticket jsapi --addr ${addr}
  npx wxtoken sign-jsapi ${app} https://example.com/page --addr ${addr}
  curl '${gateway}/cgi-bin/token?grant_type=client_credential&appid=${app}&secret=any'
  npx wxtoken component list ${component.componentAppId} --addr ${addr}
  npx wxtoken get ${authorizers[0]} --addr ${addr}

Mini-program login (the code wx.login() gives the device, then your server exchanges it):
  CODE=$(npx wxtoken sim code ${app} --sim ${url})
  npx wxtoken login ${app} "$CODE" --addr ${addr}

With grpcurl instead, if you have it:
  grpcurl -plaintext -d '{"app_id":"${app}"}' ${addr} wxtoken.v1.TokenService/GetToken
  grpcurl -plaintext -d '{"app_id":"${app}","js_code":"'"$CODE"'"}' ${addr} wxtoken.v1.LoginService/Code2Session
`);
    },
  );

registerOncallCommands(program);
registerLoginCommand(program);
registerComponentCommands(program);
registerSimCommands(simCommand);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
