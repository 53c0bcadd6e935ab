import { describe } from 'vitest';
import { startSentinelSetup } from '../support/redis-sentinel.js';
import { failoverSuite } from './redis-failover-suite.js';

// Issue 16: SIGKILL of a Sentinel-managed primary under load (1 primary, 2 replicas, 3 sentinels).
describe('failover of a Sentinel-managed primary under load (issue 16)', () => {
  failoverSuite('sentinel', async () => {
    const s = await startSentinelSetup();
    return {
      topology: `sentinels: [${s.sentinels.map((a) => `"${a}"`).join(', ')}], sentinelName: ${s.name}`,
      topologyName: 'sentinel',
      reportsPrimary: true,
      killPrimaryOf: () => s.killPrimary(),
      stop: () => s.stop(),
    };
  });
});
