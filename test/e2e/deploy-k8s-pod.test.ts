import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_ADDR } from '../../src/cli/command-output.js';
import {
  ROOT,
  SERVE_READY,
  spawnCli,
  startSim,
  waitForOutput,
  type Spawned,
} from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { SimControl } from '../support/sim-control.js';

/**
 * Issue 17, operator half: "the runbook's `kubectl exec ... status` fails once callers are
 * configured". No cluster runs here, so this builds a stand-in of one pod from the manifests
 * themselves (deploy/k8s/base): the ConfigMap's config with its callers, the Deployment's
 * container env, and its Secret volume written to a temp folder in place of the mount path,
 * from a Secret made by README step 2 and 3's commands (an `openssl rand` key whose SHA-256
 * goes into the `oncall` caller). Then the CLI runs as `kubectl exec deploy/wxtoken -- node
 * bin/wxtoken.js ...` would run it: in the container's environment, with the default address.
 * Rewritten, and only these: the mount root, redis.urls, wechat.baseUrl, and the gRPC port
 * (the test cannot own 50051; WXTOKEN_ADDR carries the real one, and the test checks that the
 * documented port is the CLI's default).
 */

const base = (f: string): string => readFileSync(join(ROOT, 'deploy/k8s/base', f), 'utf8');
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface PodSpec {
  containers: {
    name: string;
    args: string[];
    env: EnvVar[];
    volumeMounts: { name: string; mountPath: string }[];
  }[];
  volumes: {
    name: string;
    secret?: { secretName: string; items: { key: string; path: string }[] };
  }[];
}
const deployment = YAML.parse(base('deployment.yaml')) as {
  spec: { template: { spec: PodSpec } };
};
const configMap = YAML.parse(base('configmap.yaml')) as { data: Record<string, string> };
const pod = deployment.spec.template.spec;
const container = pod.containers.find((c) => c.name === 'wxtoken')!;
const config = YAML.parse(configMap.data['wxtoken.yaml']!) as {
  grpc: { listen: string };
  apps: { appId: string; secretEnv?: string; secretFile?: string }[];
  auth: { callers: { name: string; keySha256: string }[] };
};

let redis: RedisNode;
let sim: Spawned & { url: string };
let server: Spawned;
let podEnv: NodeJS.ProcessEnv;
let keyFile: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-k8s-pod-'));
  // README step 2, as written: the on-call key and its SHA-256.
  const step2 = spawnSync(
    'bash',
    [
      '-euo',
      'pipefail',
      '-c',
      `openssl rand -hex 32 > oncall.key\nprintf %s "$(cat oncall.key)" | sha256sum | cut -d' ' -f1`,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  expect(step2.status, step2.stderr).toBe(0);
  const oncallSha = step2.stdout.trim();
  expect(oncallSha).toMatch(/^[0-9a-f]{64}$/);

  // The Secret of step 3: the apps' secrets (made up here, known to the simulator) and the key
  // file as `--from-file=oncall_key=oncall.key` stores it (with its newline).
  const secret: Record<string, string> = {
    WX_MINIAPP_SECRET: 'pod-miniapp-' + randomBytes(6).toString('hex'),
    wx_official_secret: 'pod-official-' + randomBytes(6).toString('hex'),
    oncall_key: readFileSync(join(dir, 'oncall.key'), 'utf8'),
  };

  // The container's mounts, each a folder under `dir` in place of its mountPath.
  const where = new Map<string, string>();
  for (const m of container.volumeMounts) {
    const local = join(dir, 'mounts', m.name);
    mkdirSync(local, { recursive: true });
    where.set(m.mountPath, local);
    const vol = pod.volumes.find((v) => v.name === m.name)!;
    if (vol.secret?.secretName === 'wxtoken-secrets')
      for (const it of vol.secret.items) writeFileSync(join(local, it.path), secret[it.key]!);
  }
  const local = (path: string): string => {
    for (const [mountPath, dirOf] of where)
      if (path.startsWith(mountPath + '/')) return dirOf + path.slice(mountPath.length);
    throw new Error(`${path} is on no volume the Deployment mounts`);
  };

  redis = await startRedis();
  sim = await startSim();
  const control = new SimControl(sim.url);
  for (const a of config.apps) {
    const value = a.secretEnv
      ? secret[container.env.find((e) => e.name === a.secretEnv)!.valueFrom!.secretKeyRef!.key]!
      : readFileSync(local(a.secretFile!), 'utf8');
    await control.configureApp({ appId: a.appId, secret: value.trim(), expiresInSeconds: 7200 });
  }

  const podConfig = YAML.parse(configMap.data['wxtoken.yaml']!) as typeof config & {
    metrics: { listen: string };
    redis: { urls: string[] };
    wechat: { baseUrl: string };
  };
  podConfig.grpc.listen = '127.0.0.1:0';
  podConfig.metrics.listen = '127.0.0.1:0';
  podConfig.redis.urls = [redis.url];
  podConfig.wechat.baseUrl = sim.url;
  for (const a of podConfig.apps) if (a.secretFile) a.secretFile = local(a.secretFile);
  const oncall = podConfig.auth.callers.find((c) => c.name === 'oncall');
  expect(oncall, 'ConfigMap auth.callers has `oncall`').toBeDefined();
  oncall!.keySha256 = oncallSha;
  const configPath = local(container.args[container.args.indexOf('--config') + 1]!);
  writeFileSync(configPath, YAML.stringify(podConfig));

  // The container's environment: values as given, secretKeyRefs from the Secret, paths under
  // a mount moved with it.
  podEnv = Object.fromEntries(
    container.env.map((e) => [
      e.name,
      e.valueFrom?.secretKeyRef
        ? secret[e.valueFrom.secretKeyRef.key]
        : e.value?.startsWith('/')
          ? local(e.value)
          : e.value,
    ]),
  );
  keyFile = podEnv.WXTOKEN_KEY_FILE!;
  expect(keyFile, 'the Deployment sets WXTOKEN_KEY_FILE').toBeDefined();
  const args = container.args.map((a) => (a.startsWith('/') ? local(a) : a));
  server = spawnCli(args, podEnv);
  const m = await waitForOutput(server, SERVE_READY, 20_000);
  podEnv.WXTOKEN_ADDR = `127.0.0.1:${m[1]!}`;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await sim?.stop();
  await redis?.stop();
});

/** `kubectl exec deploy/wxtoken -- node bin/wxtoken.js ARGS`, in the container's environment. */
function exec(
  args: string[],
  env: NodeJS.ProcessEnv = podEnv,
): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/wxtoken.js'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the RUNBOOK through kubectl exec, on a pod with callers configured', () => {
  it('the documented address is the CLI default: grpc.listen is on port 50051', () => {
    expect(config.grpc.listen.split(':').pop()).toBe('50051');
    expect(DEFAULT_ADDR.split(':').pop()).toBe('50051');
  });

  it('status, health and refresh succeed with the key the pod mounts (caller oncall)', () => {
    const status = exec(['status']);
    expect(status.code, status.out).toBe(0);
    for (const a of config.apps) expect(status.out).toContain(a.appId);
    expect(exec(['health']).code).toBe(0);
    const refresh = exec(['refresh', config.apps[0]!.appId, '--reason', 'INC-1: drill']);
    expect(refresh.code, refresh.out).toBe(0);
    expect(refresh.out).toMatch(/refreshed, generation \d+/);
    // The audit trail names the caller the mounted key belongs to.
    const audit = exec(['audit', '--json']);
    expect(audit.code, audit.out).toBe(0);
    expect(audit.out).toMatch(/"caller":"oncall"/);
  });

  it('without the mounted key (the manifests before issue 17) status is refused, and says why', () => {
    const { WXTOKEN_KEY_FILE: _dropped, ...withoutKey } = podEnv;
    const r = exec(['status'], withoutKey);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/WXTOKEN_KEY_FILE/);
  });
});
