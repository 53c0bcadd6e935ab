import { describe } from 'vitest';
import { startRedisCluster } from '../support/redis-cluster.js';
import { failoverSuite } from './redis-failover-suite.js';

// Issue 16: SIGKILL of the Redis Cluster master serving the app's slot under load (3 + 3 nodes).
describe('failover of a Redis Cluster master under load (issue 16)', () => {
  failoverSuite('cluster', async () => {
    const c = await startRedisCluster();
    return {
      topology: `cluster: [${c.seeds.map((a) => `"${a}"`).join(', ')}]`,
      topologyName: 'cluster',
      reportsPrimary: false,
      killPrimaryOf: (key) => c.killMasterOf(key),
      stop: () => c.stop(),
    };
  });
});
