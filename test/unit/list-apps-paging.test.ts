import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAllApps, listApps, tokenClient } from '../../src/cli/grpc-client.js';
import { encodePageToken, MAX_APPS_PAGE } from '../../src/grpc/app-page-token.js';
import type { TokenServiceClient } from '../../src/grpc/generated/wxtoken/v1/TokenService.js';
import { startInProcess, type InProcess } from '../support/in-process.js';

/**
 * Issue 15 item 5: ListApps is paged (page_size, page_token -> next_page_token), at most
 * MAX_APPS_PAGE apps a page, in app-id order, through the whole server over gRPC. The apps
 * are unknown to the simulator: their state does not matter here, only that each is listed
 * exactly once.
 */
const COUNT = 2 * MAX_APPS_PAGE + 1;
// Listed out of order in the config: pages come in app-id order whatever the config's.
const IDS = Array.from({ length: COUNT }, (_, i) => `wxpage${String(i).padStart(6, '0')}`);
const CONFIG_ORDER = [...IDS].reverse();

let h: InProcess;
let client: TokenServiceClient;

beforeAll(async () => {
  h = await startInProcess(
    `
grpc: { listen: "127.0.0.1:0" }
metrics: { listen: "" }
wechat: { baseUrl: "SIM_URL", timeoutMs: 2000 }
apps:
${CONFIG_ORDER.map((id) => `  - { appId: ${id}, mode: classic, secretEnv: APP_SECRET }`).join('\n')}
`,
    { APP_SECRET: 'paging-secret-0123' },
  );
  client = tokenClient(h.addr);
}, 60_000);

afterAll(async () => {
  client?.close();
  await h?.stop();
});

const failure = async (p: Promise<unknown>): Promise<grpc.ServiceError> =>
  (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as grpc.ServiceError;

describe('ListApps pages (issue 15 item 5)', () => {
  it('a request without paging fields gets the first 1000 apps in app-id order and a token', async () => {
    const first = await listApps(client);
    expect(first.apps.map((a) => a.app_id)).toEqual(IDS.slice(0, MAX_APPS_PAGE));
    expect(first.next_page_token).toBe(encodePageToken(IDS[MAX_APPS_PAGE - 1]!));
  });

  it('page_size above the cap is served as the cap (1000): crossing it never answers more', async () => {
    const page = await listApps(client, 10_000, { page_size: MAX_APPS_PAGE + 1 });
    expect(page.apps).toHaveLength(MAX_APPS_PAGE);
    expect(page.next_page_token).not.toBe('');
  });

  it('following next_page_token lists every app exactly once; the last page has no token', async () => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await listApps(client, 10_000, { page_size: 700, page_token: token });
      expect(page.apps.length).toBeLessThanOrEqual(700);
      seen.push(...page.apps.map((a) => a.app_id));
      token = page.next_page_token;
      pages++;
    } while (token !== '');
    expect(pages).toBe(Math.ceil(COUNT / 700));
    expect(seen).toEqual(IDS);
    // What `wxtoken status` uses: default pages, all of them.
    expect((await listAllApps(client)).map((a) => a.app_id)).toEqual(IDS);
  });

  it('a page after an exact multiple of the size ends with an empty page, not an error', async () => {
    const page = await listApps(client, 10_000, {
      page_size: 1,
      page_token: encodePageToken(IDS.at(-2)!),
    });
    expect(page.apps.map((a) => a.app_id)).toEqual([IDS.at(-1)]);
    expect(page.next_page_token).toBe('');
  });

  it('an invalid page_token or a negative page_size is INVALID_ARGUMENT naming the field', async () => {
    for (const page_token of ['not base64!', '@@', encodePageToken('has space'), 'A'.repeat(200)]) {
      const err = await failure(listApps(client, 10_000, { page_token }));
      expect(err.code, page_token).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details, page_token).toContain('page_token');
    }
    const err = await failure(listApps(client, 10_000, { page_size: -1 }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('page_size');
  });
});
