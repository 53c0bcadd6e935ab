import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { until } from '../support/until.js';
import { field, openEvent, startReceiver, type EventReceiver } from './component-receiver.js';
import { useSimulator } from './sim-http.js';

/** Issue 15 item 6: verify tickets pushed every N seconds on the simulator's clock. */
const clock = new FakeClock();
const h = useSimulator({ clock });

const COMPONENT = {
  componentAppId: 'wxcomponenttimed',
  secret: 'component-secret',
  messageToken: 'msg-token',
  encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
};
const ID = COMPONENT.componentAppId;

let receiver: EventReceiver;

beforeEach(async () => {
  receiver = await startReceiver();
});

afterEach(async () => {
  await h.sim.close();
  await receiver.close();
});

async function configure(extra: object = {}): Promise<number> {
  return (
    await h.send('POST', '/__sim/components', { ...COMPONENT, eventUrl: receiver.url, ...extra })
  ).status;
}

/** Counters straight from the backend: pushes are counted when they start, inside advance(). */
function counters(): ReturnType<typeof h.sim.backend.components.counters> {
  return h.sim.backend.components.counters(ID);
}

function tickets(): string[] {
  return receiver.received.map(
    (r) => field(openEvent(r, COMPONENT), 'ComponentVerifyTicket') ?? '',
  );
}

async function componentToken(ticket: string): Promise<Record<string, unknown>> {
  return (
    await h.send('POST', '/cgi-bin/component/api_component_token', {
      component_appid: ID,
      component_appsecret: COMPONENT.secret,
      component_verify_ticket: ticket,
    })
  ).json();
}

describe('timed verify-ticket pushes', () => {
  it('pushes one at once, then one every interval; the newest and the older tickets all get a token', async () => {
    expect(await configure({ verifyTicketIntervalSeconds: 1 })).toBe(200);
    expect(counters().pushes).toBe(1);
    await until('the first push arrives', () => receiver.received.length === 1);
    await clock.advance(999);
    expect(counters().pushes).toBe(1);
    await clock.advance(1);
    expect(counters().pushes).toBe(2);
    await until('the second push arrives', () => receiver.received.length === 2);
    await clock.advance(1000);
    await until('the third push arrives', () => receiver.received.length === 3);
    const pushed = tickets();
    expect(new Set(pushed).size).toBe(3);
    const times = receiver.received.map((r) =>
      Number(field(openEvent(r, COMPONENT), 'CreateTime')),
    );
    expect(times[2]! - times[0]!).toBe(2);
    expect(await componentToken(pushed[2]!)).toMatchObject({ expires_in: 7200 });
    expect(await componentToken(pushed[0]!)).toHaveProperty('component_access_token');
    await until('every push is logged', () => counters().pushes === 3 && logged().length === 3);
    expect(counters()).toMatchObject({ pushes: 3, pushFailures: 0, pushesSkipped: 0 });
    expect(logged().every((p) => p.timed && p.ok && p.infoType === 'component_verify_ticket')).toBe(
      true,
    );
  });

  it('never has two pushes in flight to a slow receiver: due ticks are skipped and counted', async () => {
    receiver.answer = () => 'hold';
    await configure({ verifyTicketIntervalSeconds: 1 });
    await until('the first push is held', () => receiver.inFlight === 1);
    for (let i = 0; i < 3; i++) await clock.advance(1000);
    expect(counters()).toMatchObject({ pushes: 1, pushesSkipped: 3 });
    receiver.answer = () => ({ status: 200, body: 'success' });
    receiver.release();
    await until('the held push is logged', () => logged().length === 1);
    await clock.advance(1000);
    await until('the next push arrives', () => receiver.received.length === 2);
    expect(counters()).toMatchObject({ pushes: 2, pushesSkipped: 3, pushFailures: 0 });
    expect(receiver.maxInFlight).toBe(1);
  });

  it('records a receiver that fails or answers anything but success, and keeps pushing', async () => {
    const answers = [
      { status: 500, body: 'oops' },
      { status: 200, body: 'fail' },
      { status: 200, body: 'success' },
    ];
    receiver.answer = () => answers.shift() ?? { status: 200, body: 'success' };
    await configure({ verifyTicketIntervalSeconds: 0.5 });
    await until('the first push is logged', () => logged().length === 1);
    await clock.advance(500);
    await until('the second push is logged', () => logged().length === 2);
    await clock.advance(500);
    await until('the third push is logged', () => logged().length === 3);
    expect(logged().map((p) => [p.status, p.ok])).toEqual([
      [500, false],
      [200, false],
      [200, true],
    ]);
    expect(counters()).toMatchObject({ pushes: 3, pushFailures: 2 });
    // A failed push's ticket is still a ticket WeChat issued.
    expect(await componentToken(tickets()[0]!)).toHaveProperty('component_access_token');
  });

  it('stops when the component is replaced, on reset, and when the simulator closes', async () => {
    const timersBefore = clock.pendingTimers();
    await configure({ verifyTicketIntervalSeconds: 1 });
    expect(clock.pendingTimers()).toBe(timersBefore + 1);
    await configure();
    expect(clock.pendingTimers()).toBe(timersBefore);
    await configure({ verifyTicketIntervalSeconds: 1 });
    await h.send('POST', '/__sim/reset');
    expect(clock.pendingTimers()).toBe(timersBefore);
    await configure({ verifyTicketIntervalSeconds: 1 });
    // Each configure pushed once at once; the last component's push is its only one.
    await until('the pushes so far arrive', () => receiver.received.length === 3);
    await until('the last push is logged', () => logged().length === 1);
    await h.sim.close();
    expect(clock.pendingTimers()).toBe(timersBefore);
    await clock.advance(10_000);
    expect(counters().pushes).toBe(1);
    // Configured after close: no timer starts.
    h.sim.backend.components.configure({
      ...COMPONENT,
      eventUrl: receiver.url,
      verifyTicketIntervalSeconds: 1,
    });
    expect(clock.pendingTimers()).toBe(timersBefore);
  });

  it('a manual push goes out at once whatever the timer does', async () => {
    await configure({ verifyTicketIntervalSeconds: 60 });
    const answer = (
      await h.send('POST', `/__sim/components/${ID}/push`, { infoType: 'component_verify_ticket' })
    ).json();
    expect(answer).toMatchObject({ status: 200, body: 'success', ok: true });
    await until('both pushes are logged', () => logged().length === 2);
    expect(
      logged()
        .map((p) => p.timed)
        .sort(),
    ).toEqual([false, true]);
  });

  it('refuses an interval under 0.1 s or over a day, or without an eventUrl (400, naming the key)', async () => {
    for (const verifyTicketIntervalSeconds of [0.05, 86_401]) {
      const res = await h.send('POST', '/__sim/components', {
        ...COMPONENT,
        eventUrl: receiver.url,
        verifyTicketIntervalSeconds,
      });
      expect(res.status).toBe(400);
      expect(res.text).toContain('verifyTicketIntervalSeconds');
    }
    expect(await configure({ verifyTicketIntervalSeconds: 0.1 })).toBe(200);
    const noUrl = await h.send('POST', '/__sim/components', {
      ...COMPONENT,
      verifyTicketIntervalSeconds: 1,
    });
    expect(noUrl.status).toBe(400);
    expect(noUrl.text).toContain('eventUrl');
  });
});

describe('push log', () => {
  it('keeps the last 100 pushes, and at most 1 KiB of an answer', async () => {
    receiver.answer = () => ({ status: 200, body: 'x'.repeat(2000) });
    await configure();
    const first = await h.sim.backend.components.push(ID, { infoType: 'component_verify_ticket' });
    expect(first.body).toHaveLength(1024);
    expect(first.ok).toBe(false);
    receiver.answer = () => ({ status: 200, body: 'success' });
    for (let i = 0; i < 100; i++) {
      await h.sim.backend.components.push(ID, { infoType: 'component_verify_ticket' });
    }
    const pushes = logged();
    expect(pushes).toHaveLength(100);
    expect(pushes.every((p) => p.ok)).toBe(true);
    expect(counters()).toMatchObject({ pushes: 101, pushFailures: 1 });
    const overHttp = (await h.get(`/__sim/components/${ID}/pushes`)).json<{ pushes: unknown[] }>();
    expect(overHttp.pushes).toHaveLength(100);
    expect(JSON.stringify(overHttp)).not.toContain('ticket@@@');
  });
});

function logged(): ReturnType<typeof h.sim.backend.components.pushes> {
  return h.sim.backend.components.pushes(ID);
}
