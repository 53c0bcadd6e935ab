import { describe } from 'vitest';
import { clusterSuite, TOPOLOGIES } from './cluster-suite.js';

// The cluster acceptance suite on three independent Redis masters (Redlock quorum).
describe.each(TOPOLOGIES.filter((t) => t.redisNodes === 3))(
  'wxtoken cluster on $name',
  clusterSuite,
);
