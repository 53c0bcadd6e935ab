import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/processes.js';

/**
 * Issue 13 "done means", observed by a harness that shares no code with wxtoken
 * (test/e2e/harness/gateway_harness.mjs: Node's built-ins and an unmodified co-wechat-api
 * 3.11.0 from npm, its own processes): redis-server, the simulator and two `wxtoken serve`
 * replicas with pass-through gateways; the SDK changes only its host and its secret.
 */
const HARNESS = fileURLToPath(new URL('./harness/gateway_harness.mjs', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/wxtoken.js', import.meta.url));
const REDIS_SERVER = '/usr/bin/redis-server';
const SDK = 'co-wechat-api@3.11.0';

type Outcome = 'ok' | number | string;
/** `endpoint:errcode` → calls, from the simulator's call log. */
type Tally = Record<string, number>;

interface Recovery {
  cachedTokenDeadAtSim: boolean;
  sdkHeldDeadToken: boolean[];
  getIpAfterDeath: Outcome[];
  tokenIssuedBefore: number;
  tokenIssuedAfter: number;
  tokenCallsBefore: number;
  tokenCallsAfter: number;
  newTokenEqualAcrossReplicas: boolean;
  newTokenValidAtSim: boolean;
  newTokenIsNotTheRotatedOne: boolean;
  getIpAgain: Outcome[];
}

interface Observations {
  sdk: string;
  app: string;
  replicas: number;
  token: { equalAcrossReplicas: boolean; validAtSim: boolean[] };
  ticket: { equalAcrossReplicas: boolean; aliveAtSim: boolean[] };
  passThrough: {
    replica: number;
    getIpListLength: number | null;
    sendTextErrcode: number;
    messageArrived: boolean;
    sdkTokenUnchanged: boolean;
  }[];
  fleet: {
    instances: number;
    gotCentralToken: number;
    gotCentralTicket: number;
    upstreamTokenCalls: number;
    upstreamTokensIssued: number;
    upstreamTicketCalls: number;
  };
  wrongSecret: Outcome[];
  recovery: Recovery;
  herd: {
    instances: number;
    heldTheCurrentToken: number;
    cachedTokenDeadAtSim: boolean;
    getIpOk: number;
    getIpErrors: Outcome[];
    tokenIssuedBefore: number;
    tokenIssuedAfter: number;
    tokenCallsBefore: number;
    tokenCallsAfter: number;
    newTokenEqualAcrossReplicas: boolean;
    newTokenValidAtSim: boolean;
  };
  callLog: {
    calls: number;
    all: Tally;
    refusals: Tally;
    refusalsBeforeFirstDeath: Tally;
    firstDeath: Tally;
    herdDeath: Tally;
    tokensFetched: number;
    okCallsCarryingToken: number;
    okCallsWithTokenNotFetchedByWxtoken: number;
    callsWithRotatedTokens: number;
    sdkTokensFetchedByWxtoken: boolean[];
  };
  shutdown: { name: string; signal: 'SIGTERM' | 'SIGKILL'; code: number | null; ms: number }[];
}

let observed: Observations;

function run(bin: string, args: string[], timeout: number): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) =>
    execFile(bin, args, { timeout, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stdout, stderr })) : resolve({ stdout }),
    ),
  );
}

beforeAll(async () => {
  assertBuilt();
  await run(REDIS_SERVER, ['--version'], 10_000).catch(() => {
    throw new Error(
      `${REDIS_SERVER} --version failed: apt-get install -y redis-server (or scripts/install-test-deps.sh)`,
    );
  });
  let installed: string | undefined;
  try {
    const required = createRequire(HARNESS);
    installed = `co-wechat-api@${(required('co-wechat-api/package.json') as { version: string }).version}`;
  } catch {
    installed = undefined;
  }
  if (installed !== SDK) {
    throw new Error(
      `the harness needs ${SDK} (a pinned devDependency), found ${installed ?? 'none'}: npm ci`,
    );
  }
  const { stdout } = await run(
    process.execPath,
    [HARNESS, process.execPath, BIN, REDIS_SERVER],
    90_000,
  ).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`gateway harness failed (${err.message}):\n${err.stdout}\n${err.stderr}`);
  });
  try {
    observed = JSON.parse(stdout) as Observations;
  } catch {
    throw new Error(`gateway harness printed no JSON:\n${stdout}`);
  }
  console.log(`[gateway independent] ${JSON.stringify(observed)}`);
}, 120_000);

describe('issue 13 done-means, from an independent harness (unmodified co-wechat-api, 2 replicas)', () => {
  it('the SDK under test is the unmodified npm package', () => {
    expect(observed.sdk, 'installed SDK').toBe(SDK);
    expect(observed.replicas).toBe(2);
  });

  it("gets the central token: the same through both replicas' gateways, valid at WeChat", () => {
    expect(observed.token.equalAcrossReplicas, 'one token across replicas').toBe(true);
    expect(observed.token.validAtSim, 'valid at the simulator, per replica').toEqual([true, true]);
  });

  it('gets the central jsapi ticket: the same through both replicas, alive at WeChat', () => {
    expect(observed.ticket.equalAcrossReplicas, 'one ticket across replicas').toBe(true);
    expect(observed.ticket.aliveAtSim, 'alive at the simulator, per replica').toEqual([true, true]);
  });

  it('pass-through calls work through each replica (getIp, sendText reaching WeChat)', () => {
    expect(observed.passThrough).toHaveLength(2);
    for (const p of observed.passThrough) {
      const at = `replica ${p.replica}`;
      expect(p.getIpListLength, `${at}: getIp() ip_list`).toBeGreaterThan(0);
      expect(p.sendTextErrcode, `${at}: sendText() errcode`).toBe(0);
      expect(p.messageArrived, `${at}: the message is in the simulator's messages`).toBe(true);
      expect(p.sdkTokenUnchanged, `${at}: the SDK kept the central token`).toBe(true);
    }
  });

  it('20 SDK instances on both gateways get the central token and ticket and cost WeChat nothing', () => {
    const f = observed.fleet;
    expect(f.instances).toBe(20);
    expect(f.gotCentralToken, 'instances with the central token').toBe(20);
    expect(f.gotCentralTicket, 'instances with the central ticket').toBe(20);
    expect(f.upstreamTokenCalls, 'token calls at the simulator meanwhile').toBe(0);
    expect(f.upstreamTokensIssued, 'tokens issued meanwhile').toBe(0);
    expect(f.upstreamTicketCalls, 'getticket calls at the simulator meanwhile').toBe(0);
  });

  it("a key that is no caller's gets the SDK WeChat's 40125 from each replica", () => {
    expect(observed.wrongSecret, 'error code per replica').toEqual([40125, 40125]);
  });

  it('recovers from a token that died at WeChat at the cost of exactly one fetch', () => {
    const r = observed.recovery;
    expect(r.cachedTokenDeadAtSim, "the SDKs' cached token is dead at the simulator").toBe(true);
    expect(r.sdkHeldDeadToken, 'each SDK still held the dead token').toEqual([true, true]);
    expect(r.getIpAfterDeath, "each SDK's next getIp() (replica 1, then 2)").toEqual(['ok', 'ok']);
    expect(r.tokenIssuedAfter - r.tokenIssuedBefore, 'tokens issued by the recovery').toBe(1);
    expect(r.tokenCallsAfter - r.tokenCallsBefore, 'token calls by the recovery').toBe(1);
    expect(r.newTokenEqualAcrossReplicas, 'one new token across replicas').toBe(true);
    expect(r.newTokenValidAtSim, 'the new token is valid').toBe(true);
    expect(r.newTokenIsNotTheRotatedOne, "wxtoken fetched its own, not the other system's").toBe(
      true,
    );
    expect(r.getIpAgain, 'later calls with the cached dead token').toEqual(['ok', 'ok']);
  });

  it('a herd of 22 SDK instances on both replicas hitting a dead token costs one fetch cluster-wide', () => {
    const h = observed.herd;
    expect(h.heldTheCurrentToken, 'instances holding the token that died').toBe(h.instances);
    expect(h.cachedTokenDeadAtSim, 'the token is dead at the simulator').toBe(true);
    expect(h.getIpErrors, 'getIp() errors').toEqual([]);
    expect(h.getIpOk, 'getIp() successes').toBe(22);
    expect(h.tokenIssuedAfter - h.tokenIssuedBefore, 'tokens issued by the recovery').toBe(1);
    expect(h.tokenCallsAfter - h.tokenCallsBefore, 'token calls by the recovery').toBe(1);
    expect(h.newTokenEqualAcrossReplicas, 'one new token across replicas').toBe(true);
    expect(h.newTokenValidAtSim, 'the new token is valid').toBe(true);
  });

  it("WeChat's call log: only tokens wxtoken fetched, one refusal per dead token the SDK sent", () => {
    const c = observed.callLog;
    expect(c.okCallsWithTokenNotFetchedByWxtoken, 'successful calls with a foreign token').toBe(0);
    expect(c.callsWithRotatedTokens, "calls with the other system's tokens").toBe(0);
    expect(c.sdkTokensFetchedByWxtoken, 'every token the SDKs got was fetched by wxtoken').toEqual([
      true,
      true,
      true,
    ]);
    expect(c.tokensFetched, 'token fetches in all: start, two deaths').toBe(3);
    expect(c.refusalsBeforeFirstDeath, 'refused calls before any token died').toEqual({});
    // The first death: the SDK's one call with the dead token (replica 1) is refused once;
    // replica 2 already knows the new token and sends its SDK's call on with it. wxtoken asks
    // WeChat once whether the token is really dead (get_api_domain_ip), then fetches once.
    expect(c.firstDeath['getcallbackip:40001'], 'the recovered call, refused once').toBe(1);
    expect(c.firstDeath['get_api_domain_ip:40001'], "wxtoken's one validity check").toBe(1);
    expect(c.firstDeath['token:0'], 'fetches').toBe(1);
    expect(Object.keys(c.firstDeath).sort()).toEqual([
      'get_api_domain_ip:40001',
      'getcallbackip:0',
      'getcallbackip:40001',
      'token:0',
    ]);
    // The herd: each concurrent call reached WeChat with the dead token before the repair,
    // then one check (at most one per replica) and one fetch for all of them.
    expect(c.herdDeath['getcallbackip:40001'] ?? 0, 'herd calls refused').toBeLessThanOrEqual(22);
    expect(c.herdDeath['getcallbackip:0'], 'herd calls answered').toBe(22);
    expect(c.herdDeath['get_api_domain_ip:40001'], 'validity checks').toBeGreaterThanOrEqual(1);
    expect(c.herdDeath['get_api_domain_ip:40001'], 'validity checks').toBeLessThanOrEqual(2);
    expect(c.herdDeath['token:0'], 'fetches').toBe(1);
  });

  it('every process the harness started stops on SIGTERM (replicas first, Redis last)', () => {
    expect(observed.shutdown.map((p) => p.name)).toEqual(['replica2', 'replica1', 'sim', 'redis']);
    for (const p of observed.shutdown) {
      expect(`${p.signal} ${p.code}`, `${p.name}: how it ended`).toBe('SIGTERM 0');
    }
  });
});
