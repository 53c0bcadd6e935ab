import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { classifyErrcode } from '../../src/wechat/wechat-error.js';
import {
  ROOT,
  runCli,
  SERVE_READY,
  spawnCli,
  startSim,
  waitForOutput,
  type Spawned,
} from '../support/processes.js';
import { startRedis, type RedisNode } from '../support/redis-server.js';
import { shellBlocks, type ShellBlock } from '../support/shell-blocks.js';
import { until } from '../support/until.js';

/**
 * Issue 17, operator half: the deploy docs work as written. Every shell block of
 * deploy/README.md and deploy/RUNBOOK.md runs here and must succeed, except those marked
 * `<!-- needs: docker -->` or `<!-- needs: kubernetes -->` (no Docker engine, no cluster here).
 * The `wxtoken` commands run against a stand-in of the compose stack built from compose.yaml
 * itself: its Redis and simulator on loopback, and two replicas started with the compose
 * replicas' own command, environment and config file (deploy/compose/wxtoken.yaml), whose
 * `sim`/`redis` host names and 0.0.0.0 listeners are the only things rewritten. The documented
 * addresses (127.0.0.1:50051, :50052, :8090) are mapped to the stand-in's ports.
 */

const DOCS = ['deploy/README.md', 'deploy/RUNBOOK.md'] as const;
const CANNOT_RUN_HERE = new Set(['docker', 'kubernetes']);
const APP = 'wxcompose00000001';

const blocksOf = (doc: string): ShellBlock[] => shellBlocks(readFileSync(join(ROOT, doc), 'utf8'));
const runnable = DOCS.flatMap((doc) =>
  blocksOf(doc)
    .filter((b) => b.needs === undefined)
    .map((b) => ({ doc, ...b })),
);

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = YAML.parse(readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };
/** compose's `${VAR:-default}`, as compose expands it with VAR unset. */
const expand = (s: string): string => s.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

let redis: RedisNode;
let sim: Spawned & { url: string };
const replicas: (Spawned & { addr: string })[] = [];
let cwd: string;
let env: NodeJS.ProcessEnv;
const addresses = new Map<string, string>();

beforeAll(async () => {
  redis = await startRedis();
  // The simulator with the compose sim's own apps and secrets, on a free port.
  const simArgs = (compose.services.sim!.command ?? []).map(expand);
  expect(simArgs.slice(0, 3)).toEqual(['sim', '--listen', '0.0.0.0:8090']);
  sim = await startSim(simArgs.slice(3));

  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-deploy-docs-'));
  const configPath = join(dir, 'wxtoken.yaml');
  const composeConfig = readFileSync(join(ROOT, 'deploy/compose/wxtoken.yaml'), 'utf8');
  const rewritten = composeConfig
    .replace(/'0\.0\.0\.0:\d+'/g, "'127.0.0.1:0'")
    .replace("'http://sim:8090'", `'${sim.url}'`)
    .replace("'redis://redis:6379'", `'${redis.url}'`);
  expect(rewritten, 'compose config: sim, redis and listeners to rewrite').not.toMatch(
    /sim:8090|redis:6379|0\.0\.0\.0/,
  );
  writeFileSync(configPath, rewritten);
  for (const name of ['wxtoken-1', 'wxtoken-2']) {
    const svc = compose.services[name]!;
    const mount = svc.volumes?.find((v) => v.startsWith('./compose/wxtoken.yaml:'));
    const inContainer = mount?.split(':')[1];
    expect(svc.command, `${name} command`).toContain(inContainer);
    const args = svc.command!.map((a) => (a === inContainer ? configPath : a));
    const environment = Object.fromEntries(
      Object.entries(svc.environment ?? {}).map(([k, v]) => [k, expand(v)]),
    );
    const p = spawnCli(args, environment);
    const m = await waitForOutput(p, SERVE_READY, 20_000);
    replicas.push(Object.assign(p, { addr: `127.0.0.1:${m[1]!}` }));
  }
  addresses.set('127.0.0.1:50051', replicas[0]!.addr);
  addresses.set('127.0.0.1:50052', replicas[1]!.addr);
  addresses.set('127.0.0.1:8090', new URL(sim.url).host);
  // The compose stack is usable once every replica serves the app's jsapi ticket (the leader
  // fetched the token and the ticket; the other replica applied both).
  for (const r of replicas)
    await until(
      `${r.addr} serves the jsapi ticket of ${APP}`,
      async () => (await runCli(['get', APP, '--ticket', 'jsapi', '--addr', r.addr])).code === 0,
      20_000,
    );

  // The blocks run in a folder of their own (files they write stay there) that sees the
  // repository's built CLI and deploy/, with `wxtoken` on PATH as an installed CLI would be.
  cwd = join(dir, 'work');
  mkdirSync(join(cwd, '.bin'), { recursive: true });
  for (const entry of ['bin', 'dist', 'deploy', 'node_modules', 'package.json', 'proto'])
    symlinkSync(join(ROOT, entry), join(cwd, entry));
  const shim = join(cwd, '.bin', 'wxtoken');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${ROOT}/bin/wxtoken.js" "$@"\n`);
  chmodSync(shim, 0o755);
  env = {
    ...process.env,
    PATH: `${join(cwd, '.bin')}:${process.env.PATH ?? ''}`,
    WXTOKEN_ADDR: replicas[0]!.addr,
  };
}, 90_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await sim?.stop();
  await redis?.stop();
});

describe('deploy docs: markers', () => {
  it('every command block runs here, or is marked as needing docker or kubernetes', () => {
    for (const doc of DOCS) {
      const blocks = blocksOf(doc);
      expect(blocks.length, `${doc} has command blocks`).toBeGreaterThan(0);
      for (const b of blocks)
        if (b.needs !== undefined)
          expect(
            CANNOT_RUN_HERE.has(b.needs),
            `${doc}:${b.line}: unknown marker needs: ${b.needs}`,
          ).toBe(true);
    }
    // The RUNBOOK's first look and the README's CLI steps are among those that run.
    expect(
      runnable.some((b) => b.doc === 'deploy/RUNBOOK.md' && /wxtoken status/.test(b.code)),
    ).toBe(true);
    expect(runnable.some((b) => /refresh wxcompose00000001/.test(b.code))).toBe(true);
    expect(runnable.some((b) => /kubectl kustomize/.test(b.code))).toBe(true);
  });
});

describe('deploy docs: each runnable block succeeds as written', () => {
  it.each(runnable.map((b) => [`${b.doc}:${b.line}`, b] as const))('%s', (_, block) => {
    if (/\bkubectl\b/.test(block.code) && spawnSync('kubectl', ['version', '--client']).error)
      throw new Error(
        `${block.doc}:${block.line} runs kubectl (only \`kubectl kustomize\`, no cluster): install kubectl >= 1.27`,
      );
    let code = block.code;
    for (const [documented, actual] of addresses) code = code.replaceAll(documented, actual);
    const unmapped = /127\.0\.0\.1:(50\d\d\d|8090)\b/.exec(code);
    expect(
      unmapped,
      `${block.doc}:${block.line}: an address the stand-in does not have`,
    ).toBeNull();
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', code], {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 60_000,
      // A documented command that talks to a server must not wait for a terminal.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = `${r.stdout}${r.stderr}`;
    expect(
      r.status,
      `${block.doc}:${block.line} exited ${r.status}:\n${code}\n---\n${output}`,
    ).toBe(0);
    // What the commands say they did, not only their exit codes.
    if (/refresh wxcompose00000001/.test(code))
      expect(output).toMatch(/wxcompose00000001: refreshed, generation \d+/);
    if (/wxtoken status/.test(code)) expect(output).toContain(APP);
    if (/kubectl kustomize deploy\/k8s\/base/.test(code)) {
      // The base lists its kinds, the overlay greps for its two: each shows once, so the base
      // has neither (it applies without the Prometheus Operator's CRDs) and the overlay both.
      expect(output).toMatch(/^kind: Namespace$/m);
      for (const kind of ['ServiceMonitor', 'PrometheusRule'])
        expect(output.match(new RegExp(`^kind: ${kind}$`, 'gm'))?.length, kind).toBe(1);
    }
    if (/openssl rand/.test(code)) expect(output).toMatch(/^[0-9a-f]{64}\s*$/m);
  });
});

describe('deploy docs: what needs a cluster, checked without one', () => {
  it("step 3's Secret command creates, in the namespace wxtoken, every key the Deployment reads", () => {
    const block = blocksOf('deploy/README.md').find((b) =>
      /kubectl create secret generic wxtoken-secrets/.test(b.code),
    );
    expect(block?.needs).toBe('kubernetes');
    const command = block!.code.slice(block!.code.indexOf('kubectl create secret'));
    expect(command).toMatch(/ -n wxtoken\b/);
    const created = [...command.matchAll(/--from-(?:literal|file)=(\w+)=/g)]
      .map((m) => m[1])
      .sort();
    const deployment = YAML.parse(
      readFileSync(join(ROOT, 'deploy/k8s/base/deployment.yaml'), 'utf8'),
    ) as {
      spec: { template: { spec: { containers: ContainerSpec[]; volumes: VolumeSpec[] } } };
    };
    const pod = deployment.spec.template.spec;
    const read = [
      ...pod.containers.flatMap((c) =>
        (c.env ?? []).flatMap((e) =>
          e.valueFrom?.secretKeyRef?.name === 'wxtoken-secrets'
            ? [e.valueFrom.secretKeyRef.key]
            : [],
        ),
      ),
      ...pod.volumes.flatMap((v) =>
        v.secret?.secretName === 'wxtoken-secrets' ? (v.secret.items ?? []).map((i) => i.key) : [],
      ),
    ].sort();
    expect(created).toEqual(read);
    const example = YAML.parse(
      readFileSync(join(ROOT, 'deploy/k8s/examples/secret.yaml'), 'utf8'),
    ) as { stringData: Record<string, string> };
    expect(Object.keys(example.stringData).sort()).toEqual(read);
  });

  it('the RUNBOOK in a cluster: kubectl exec runs the CLI with the key file the pods mount', () => {
    const runbook = blocksOf('deploy/RUNBOOK.md');
    const alias = runbook.find((b) => /alias wxtoken='kubectl exec/.test(b.code));
    expect(alias?.code).toContain("kubectl exec -n wxtoken deploy/wxtoken -- node bin/wxtoken.js'");
    // The image's working directory is where bin/wxtoken.js is.
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toMatch(/^COPY bin \.\/bin$/m);
  });
});

describe('docs/wechat-errors.md', () => {
  it('lists every errcode wxtoken classifies, each with the kind wxtoken gives it', () => {
    const doc = readFileSync(join(ROOT, 'docs/wechat-errors.md'), 'utf8');
    const documented = new Map(
      [...doc.matchAll(/^- `(-?\d+)` \(`(\w+)`\)/gm)].map((m) => [Number(m[1]), m[2]]),
    );
    for (const [code, kind] of documented)
      expect(classifyErrcode(code), `errcode ${code}`).toBe(kind);
    const source = readFileSync(join(ROOT, 'src/wechat/wechat-error.ts'), 'utf8');
    const table = source.slice(source.indexOf('KIND_BY_ERRCODE'), source.indexOf(']);'));
    const known = [...table.matchAll(/\[(-?\d+), '\w+'\]/g)].map((m) => Number(m[1]));
    expect(known.length).toBeGreaterThan(10);
    for (const code of known) expect(documented.has(code), `errcode ${code} documented`).toBe(true);
  });
});

interface ContainerSpec {
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}
interface VolumeSpec {
  secret?: { secretName: string; items?: { key: string }[] };
}
