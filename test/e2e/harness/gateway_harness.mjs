#!/usr/bin/env node
/* global console, process, setTimeout, clearTimeout, Buffer, AbortSignal, URL */
// Issue 13 "done means", checked by a harness that shares no code with wxtoken:
//
//     node test/e2e/harness/gateway_harness.mjs NODE WXTOKEN_BIN REDIS_SERVER
//
// An unmodified WeChat SDK from npm (co-wechat-api 3.11.0, node-webot) is pointed at wxtoken's
// HTTP gateway by changing only its host (`prefix`, `wxaPrefix`) and its secret (a wxtoken
// caller key instead of the AppSecret). The harness starts every process itself: `redis-server`
// (free port, no persistence), `wxtoken sim` (the WeChat stand-in, driven over plain HTTP
// through its documented /__sim/ control routes) and two `wxtoken serve` replicas on that
// Redis, each with a pass-through gateway. It imports only Node's built-ins and co-wechat-api,
// and prints one JSON object of observations on stdout (no token, ticket or key in it):
//
//   sdk              the SDK's name and version as installed
//   token            the SDK's token through each replica: equal, valid at the simulator
//   ticket           the SDK's jsapi ticket through each replica: equal, alive at the simulator
//   passThrough      getIp() and sendText() through each replica, and whether each message
//                    arrived at the simulator
//   fleet            20 fresh SDK instances (10 per replica) taking token and ticket: how many
//                    got the central ones, and the simulator's token / ticket calls meanwhile
//   wrongSecret      the SDK's error code with a key that is no caller's, per replica
//   recovery         after the simulator killed every token (rotate, endOverlap): whether the
//                    SDK's cached token was dead, its next getIp() through each replica, and
//                    tokenIssued / tokenCalls before and after (one fetch expected)
//   herd             the same death again with 22 fresh SDK instances (11 per replica) holding
//                    the token and calling getIp() at once
//   callLog          the simulator's call log: calls per endpoint:errcode (all, and for each
//                    death), refusals (40001, 40014, 42001), and successful token-carrying
//                    calls whose token was not one wxtoken fetched (by the log's fingerprint)
//   shutdown         how each child ended when stopped (replicas first, Redis last): by
//                    SIGTERM or by SIGKILL 10 s later, its exit code and how long it took
//
// Every child is stopped at the end, also on failure or when the harness gets SIGTERM/SIGINT.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const requireCjs = createRequire(import.meta.url);
const API = requireCjs('co-wechat-api');
const SDK = `co-wechat-api@${requireCjs('co-wechat-api/package.json').version}`;

const APP = 'wxgwharness00001';
const SECRET = `harness-app-secret-${randomBytes(6).toString('hex')}`;
const KEY = `harness-caller-key-${randomBytes(16).toString('hex')}`;
const OPENID = 'oHarnessUser000000000000001';
const FLEET = 20;
const HERD = 22;
const STOP_GRACE_MS = 10_000;

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
/** The simulator's call-log fingerprint of a token: the first 8 hex digits of its SHA-256. */
const fingerprint = (s) => sha256(s).slice(0, 8);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- processes ----------------------------------------------------------------------------------

/** Child processes, all stopped at the end (SIGTERM, then SIGKILL). */
class Procs {
  children = [];

  start(name, args, env = {}) {
    const child = spawn(args[0], args.slice(1), {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.name = name;
    child.output = '';
    child.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.on('error', (err) => (child.output += `\n[spawn error] ${err.message}\n`));
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => (child.output += chunk));
    }
    this.children.push(child);
    return child;
  }

  /**
   * Stops the children in the reverse order of their start (the replicas before the simulator
   * and Redis they use): SIGTERM, then SIGKILL if still running STOP_GRACE_MS later.
   * Resolves how each one ended: {name, signal: 'SIGTERM' | 'SIGKILL', code, ms}.
   */
  async stopAll() {
    const ended = [];
    for (const c of [...this.children].reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const started = Date.now();
      c.kill('SIGTERM');
      let timer;
      const late = new Promise(
        (resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)),
      );
      let signal = 'SIGTERM';
      let end = await Promise.race([c.exited, late]);
      clearTimeout(timer);
      if (end === 'late') {
        signal = 'SIGKILL';
        console.error(
          `${c.name} still running ${STOP_GRACE_MS} ms after SIGTERM: SIGKILL; its last lines:\n` +
            c.output.split('\n').slice(-15).join('\n'),
        );
        c.kill('SIGKILL');
        end = await c.exited;
      }
      ended.push({ name: c.name, signal, code: end.code, ms: Date.now() - started });
    }
    return ended;
  }

  /** The last lines of every child's output, for a failure report. */
  tails() {
    return this.children
      .map(
        (c) =>
          `--- ${c.name} (exit ${c.exitCode ?? c.signalCode ?? 'running'}):\n${c.output.split('\n').slice(-15).join('\n')}`,
      )
      .join('\n');
  }
}

/** Polls `predicate` until it returns a truthy value; fails early when `child` has exited. */
async function until(predicate, timeoutMs, what, child) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `${child.name} exited (${child.exitCode ?? child.signalCode}) before ${what}`,
      );
    }
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Redis server answers PING on the port (RESP by hand). */
function redisPongs(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk;
      if (data.includes('\r\n')) socket.end();
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(data.startsWith('+PONG')));
  });
}

// --- HTTP ---------------------------------------------------------------------------------------

/** A JSON request: resolves {status, body}. */
function http(method, url, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      url,
      {
        method,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode, body: JSON.parse(text) });
          } catch {
            reject(
              new Error(`${method} ${new URL(url).pathname}: HTTP ${res.statusCode}, not JSON`),
            );
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

class Sim {
  constructor(url) {
    this.url = url;
  }

  async call(method, path, body) {
    const { status, body: answer } = await http(method, this.url + path, body);
    if (status !== 200)
      throw new Error(`simulator ${method} ${path}: HTTP ${status} ${JSON.stringify(answer)}`);
    return answer;
  }

  async valid(token) {
    return (await this.call('POST', '/__sim/check', { access_token: token })).valid;
  }

  async counters() {
    return this.call('GET', `/__sim/apps/${APP}/counters`);
  }
}

// --- wxtoken ------------------------------------------------------------------------------------

function replicaConfig({ grpcPort, gatewayPort, simUrl, redisPort }) {
  return [
    `grpc: { listen: "127.0.0.1:${grpcPort}" }`,
    `gateway: { listen: "127.0.0.1:${gatewayPort}", passThrough: true }`,
    'metrics: { listen: "" }',
    `wechat: { baseUrl: "${simUrl}", timeoutMs: 2000 }`,
    `redis: { urls: ["redis://127.0.0.1:${redisPort}"] }`,
    // No minimum gap between forced fetches (default 10 s): one fetch per death must come from
    // compare-and-refresh itself, not from the budget refusing a second one (and the herd
    // round follows the first death within seconds).
    'refresh: { forceMinIntervalMs: 1 }',
    'auth:',
    '  callers:',
    `    - { name: harness-sdk, keySha256: "${sha256(KEY)}", apps: [${APP}], scopes: [token:read] }`,
    'apps:',
    `  - { appId: ${APP}, mode: classic, secretEnv: HARNESS_APP_SECRET, tickets: [jsapi] }`,
    '',
  ].join('\n');
}

/** An SDK instance as a business server configures it: only its host and secret changed. */
function sdk(gateway, secret = KEY) {
  const api = new API(APP, secret);
  api.prefix = `${gateway}/cgi-bin/`;
  api.wxaPrefix = `${gateway}/wxa/`;
  return api;
}

/** The error code an SDK call failed with, or 'ok'. */
async function outcome(call) {
  try {
    await call();
    return 'ok';
  } catch (err) {
    return err.code ?? `${err.name}: ${err.message}`;
  }
}

// --- the run ------------------------------------------------------------------------------------

async function run(procs, node, bin, redisServer) {
  const dir = mkdtempSync(join(tmpdir(), 'wxtoken-gwharness-'));
  try {
    const redisPort = await freePort();
    const redis = procs.start('redis', [
      redisServer,
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await until(() => redisPongs(redisPort), 15_000, 'redis-server to answer PING', redis);

    const simProc = procs.start('sim', [node, bin, 'sim', '--listen', '127.0.0.1:0']);
    const simUrl = await until(
      () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(simProc.output)?.[1],
      15_000,
      "the simulator's address",
      simProc,
    );
    const sim = new Sim(simUrl);
    await sim.call('POST', '/__sim/apps', { appId: APP, secret: SECRET, expiresInSeconds: 7200 });

    const gateways = [];
    const replicas = [];
    for (const n of [1, 2]) {
      const [grpcPort, gatewayPort] = [await freePort(), await freePort()];
      const file = join(dir, `replica${n}.yaml`);
      writeFileSync(file, replicaConfig({ grpcPort, gatewayPort, simUrl, redisPort }));
      replicas.push(
        procs.start(`replica${n}`, [node, bin, 'serve', '--config', file], {
          HARNESS_APP_SECRET: SECRET,
        }),
      );
      gateways.push(`http://127.0.0.1:${gatewayPort}`);
    }
    for (const r of replicas) {
      await until(
        () => r.output.includes('"msg":"wxtoken serving"'),
        30_000,
        `${r.name} serving`,
        r,
      );
    }
    // Serving comes before the first token is in: wait (plain HTTP, no SDK) until each gateway
    // hands one out, so that the SDKs below see steady state.
    for (const g of gateways) {
      await until(
        async () =>
          (
            await http(
              'GET',
              `${g}/cgi-bin/token?grant_type=client_credential&appid=${APP}&secret=${KEY}`,
            )
          ).body.access_token,
        30_000,
        `a token from ${g}`,
        replicas[gateways.indexOf(g)],
      );
    }

    // 1. The token and the jsapi ticket, through each replica.
    const apis = gateways.map((g) => sdk(g));
    const tokens = [];
    for (const api of apis) tokens.push((await api.ensureAccessToken()).accessToken);
    const tickets = [];
    for (const api of apis) tickets.push((await api.getTicket('jsapi')).ticket);
    const token = {
      equalAcrossReplicas: tokens.every((t) => t === tokens[0]),
      validAtSim: await Promise.all(tokens.map((t) => sim.valid(t))),
    };
    const ticket = {
      equalAcrossReplicas: tickets.every((t) => t === tickets[0]),
      aliveAtSim: await Promise.all(
        tickets.map(
          async (t) =>
            (await sim.call('POST', `/__sim/apps/${APP}/tickets/jsapi/check`, { ticket: t })).alive,
        ),
      ),
    };

    // 2. Pass-through: WeChat calls the gateway does not answer itself, through each replica.
    const passThrough = [];
    for (const [i, api] of apis.entries()) {
      const ip = await api.getIp();
      const text = `harness message ${i + 1} ${randomBytes(4).toString('hex')}`;
      const sent = await api.sendText(OPENID, text);
      const { messages } = await sim.call('GET', `/__sim/apps/${APP}/messages`);
      passThrough.push({
        replica: i + 1,
        getIpListLength: Array.isArray(ip.ip_list) ? ip.ip_list.length : null,
        sendTextErrcode: sent.errcode,
        messageArrived: messages.some((m) => m.touser === OPENID && m.body?.text?.content === text),
        sdkTokenUnchanged: (await api.ensureAccessToken()).accessToken === tokens[0],
      });
    }

    // 3. A fleet of fresh SDK instances (10 per replica) costs WeChat nothing.
    const fleetBefore = await sim.counters();
    const fleetAnswers = await Promise.all(
      Array.from({ length: FLEET }, async (_, i) => {
        const api = sdk(gateways[i % 2]);
        const t = (await api.ensureAccessToken()).accessToken;
        const k = (await api.getTicket('jsapi')).ticket;
        return { central: t === tokens[0], centralTicket: k === tickets[0] };
      }),
    );
    const fleetAfter = await sim.counters();
    const fleet = {
      instances: FLEET,
      gotCentralToken: fleetAnswers.filter((a) => a.central).length,
      gotCentralTicket: fleetAnswers.filter((a) => a.centralTicket).length,
      upstreamTokenCalls: fleetAfter.tokenCalls - fleetBefore.tokenCalls,
      upstreamTokensIssued: fleetAfter.tokenIssued - fleetBefore.tokenIssued,
      upstreamTicketCalls: fleetAfter.ticketCalls - fleetBefore.ticketCalls,
    };

    // 4. A key that is no caller's: the SDK gets WeChat's "invalid appsecret".
    const wrongSecret = [];
    for (const g of gateways)
      wrongSecret.push(
        await outcome(() =>
          sdk(g, `not-the-key-${randomBytes(8).toString('hex')}`).ensureAccessToken(),
        ),
      );

    // 5. The token dies at WeChat (another system fetched one and ended the overlap); the SDKs
    //    keep it cached. Their next calls must succeed at the cost of exactly one fetch.
    const rotatedAt = Date.now(); // the simulator runs on this machine's clock
    const rotated = await sim.call('POST', `/__sim/apps/${APP}/rotate`, { endOverlap: true });
    const before = await sim.counters(); // after the rotate: it counts as issued itself
    const cachedDead = !(await sim.valid(tokens[0]));
    const sdkStillHoldsDead = await Promise.all(
      apis.map(async (api) => (await api.getToken())?.accessToken === tokens[0]),
    );
    const getIpAfterDeath = [];
    for (const api of apis) getIpAfterDeath.push(await outcome(() => api.getIp()));
    await sleep(1500); // any late or duplicate fetch would show in the counters by now
    const after = await sim.counters();
    const fresh = [];
    for (const g of gateways) fresh.push((await sdk(g).ensureAccessToken()).accessToken);
    const recovery = {
      cachedTokenDeadAtSim: cachedDead,
      sdkHeldDeadToken: sdkStillHoldsDead,
      getIpAfterDeath,
      tokenIssuedBefore: before.tokenIssued,
      tokenIssuedAfter: after.tokenIssued,
      tokenCallsBefore: before.tokenCalls,
      tokenCallsAfter: after.tokenCalls,
      newTokenEqualAcrossReplicas: fresh.every((t) => t === fresh[0]),
      newTokenValidAtSim: await sim.valid(fresh[0]),
      newTokenIsNotTheRotatedOne: fresh[0] !== rotated.access_token,
      getIpAgain: await Promise.all(apis.map((api) => outcome(() => api.getIp()))),
    };

    // 6. Again, with a herd: 22 fresh SDK instances (11 per replica) hold the new token when it
    //    dies, and all call getIp() at once. Still one fetch, cluster-wide.
    const herdApis = Array.from({ length: HERD }, (_, i) => sdk(gateways[i % 2]));
    const herdHeld = await Promise.all(
      herdApis.map(async (api) => (await api.ensureAccessToken()).accessToken),
    );
    const herdAt = Date.now();
    const rotatedAgain = await sim.call('POST', `/__sim/apps/${APP}/rotate`, { endOverlap: true });
    const herdBefore = await sim.counters();
    const herdCachedDead = !(await sim.valid(fresh[0]));
    const herdOutcomes = await Promise.all(herdApis.map((api) => outcome(() => api.getIp())));
    await sleep(1500);
    const herdAfter = await sim.counters();
    const herdFresh = [];
    for (const g of gateways) herdFresh.push((await sdk(g).ensureAccessToken()).accessToken);
    const herd = {
      instances: HERD,
      heldTheCurrentToken: herdHeld.filter((t) => t === fresh[0]).length,
      cachedTokenDeadAtSim: herdCachedDead,
      getIpOk: herdOutcomes.filter((o) => o === 'ok').length,
      getIpErrors: herdOutcomes.filter((o) => o !== 'ok'),
      tokenIssuedBefore: herdBefore.tokenIssued,
      tokenIssuedAfter: herdAfter.tokenIssued,
      tokenCallsBefore: herdBefore.tokenCalls,
      tokenCallsAfter: herdAfter.tokenCalls,
      newTokenEqualAcrossReplicas: herdFresh.every((t) => t === herdFresh[0]),
      newTokenValidAtSim: await sim.valid(herdFresh[0]),
    };

    // 7. The simulator's call log: what reached "WeChat", and with which tokens.
    const { calls } = await sim.call('GET', `/__sim/calls?appId=${APP}&since=0`);
    const tally = (list) => {
      const out = {};
      for (const c of list)
        out[`${c.endpoint}:${c.errcode}`] = (out[`${c.endpoint}:${c.errcode}`] ?? 0) + 1;
      return out;
    };
    const refused = (c) => [40001, 40014, 42001].includes(c.errcode);
    const fetched = new Set(
      calls.filter((c) => c.endpoint === 'token' && c.errcode === 0).map((c) => c.tokenFingerprint),
    );
    const carrying = calls.filter(
      (c) => c.endpoint !== 'token' && c.errcode === 0 && c.tokenFingerprint,
    );
    const rotatedPrints = [rotated, rotatedAgain].map((r) => fingerprint(r.access_token));
    const callLog = {
      calls: calls.length,
      all: tally(calls),
      refusals: tally(calls.filter(refused)),
      refusalsBeforeFirstDeath: tally(calls.filter((c) => refused(c) && c.at < rotatedAt)),
      firstDeath: tally(calls.filter((c) => c.at >= rotatedAt && c.at < herdAt)),
      herdDeath: tally(calls.filter((c) => c.at >= herdAt)),
      tokensFetched: fetched.size,
      okCallsCarryingToken: carrying.length,
      okCallsWithTokenNotFetchedByWxtoken: carrying.filter((c) => !fetched.has(c.tokenFingerprint))
        .length,
      callsWithRotatedTokens: calls.filter((c) => rotatedPrints.includes(c.tokenFingerprint))
        .length,
      sdkTokensFetchedByWxtoken: [tokens[0], fresh[0], herdFresh[0]].map((t) =>
        fetched.has(fingerprint(t)),
      ),
    };

    return {
      sdk: SDK,
      app: APP,
      replicas: 2,
      token,
      ticket,
      passThrough,
      fleet,
      wrongSecret,
      recovery,
      herd,
      callLog,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
async function main(argv) {
  if (argv.length !== 3) {
    console.error('usage: node gateway_harness.mjs NODE WXTOKEN_BIN REDIS_SERVER');
    return 2;
  }
  const procs = new Procs();
  const onSignal = (signal) => {
    procs.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const observed = await run(procs, ...argv);
    observed.shutdown = await procs.stopAll();
    process.stdout.write(`${JSON.stringify(observed)}\n`);
    return 0;
  } catch (err) {
    console.error(`gateway harness failed: ${err.stack ?? err}\n${procs.tails()}`);
    return 1;
  } finally {
    await procs.stopAll();
  }
}

const code = await main(process.argv.slice(2));
// Exit once stdout is flushed, whatever sockets the SDK's HTTP client still keeps alive.
process.stdout.write('', () => process.exit(code));
