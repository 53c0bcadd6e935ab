import { describe } from 'vitest';
import { clusterSuite, TOPOLOGIES } from './cluster-suite.js';

// The cluster acceptance suite on one Redis node (cluster-3node.test.ts: three masters).
describe.each(TOPOLOGIES.filter((t) => t.redisNodes === 1))(
  'wxtoken cluster on $name',
  clusterSuite,
);
