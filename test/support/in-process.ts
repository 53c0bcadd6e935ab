import { parseConfig, parseConfigYaml } from '../../src/config/load-config.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { createLogger } from '../../src/shared/logger.js';
import { WeChatSimulator } from '../../src/sim/wechat-simulator.js';
import { SimControl } from './sim-control.js';

/**
 * The in-process tier: the composition root (startServer) and the simulator started inside the
 * test's own process, both on loopback sockets, so a behaviour that needs the whole server (gRPC
 * encoding, auth, handlers, engine, WeChat over HTTP) is tested in milliseconds without spawning
 * anything. Real processes, signals and Redis stay in test/e2e.
 */
export interface InProcess {
  readonly server: RunningServer;
  readonly addr: string;
  readonly simUrl: string;
  readonly control: SimControl;
  stop(): Promise<void>;
}

/**
 * Starts the simulator, runs `simSetup` against its control API, then starts the server with
 * `yaml` (`SIM_URL` in it is replaced by the simulator's URL). Secrets come from `env`.
 */
export async function startInProcess(
  yaml: string,
  env: Record<string, string>,
  simSetup: (control: SimControl) => Promise<void> = async () => undefined,
  /** Every log line of the server (at debug level), for tests that scan them; default: none. */
  logLines?: string[],
): Promise<InProcess> {
  const sim = new WeChatSimulator();
  const { url: simUrl } = await sim.listen('127.0.0.1:0');
  const control = new SimControl(simUrl);
  await simSetup(control);
  const config = parseConfig(parseConfigYaml(yaml.replaceAll('SIM_URL', simUrl)), {
    env,
    readFile: () => {
      throw new Error('no files in the in-process tier');
    },
    warn: () => undefined,
  });
  const log = logLines
    ? createLogger({
        level: 'debug',
        destination: { write: (line: string) => void logLines.push(line) },
      })
    : createLogger({ level: 'silent' });
  const server = await startServer(config, { log });
  return {
    server,
    addr: `127.0.0.1:${server.grpcPort}`,
    simUrl,
    control,
    stop: async () => {
      await server.stop();
      await sim.close();
    },
  };
}
