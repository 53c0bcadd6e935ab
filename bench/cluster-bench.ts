import { failoverScenario } from './failover-bench.js';
import { herdScenario } from './herd-bench.js';
import { propagationScenario } from './propagation-bench.js';
import type { Scenario } from './report.js';
import { rotationScenario } from './rotation-bench.js';

/**
 * Issue 7 scenarios 2-5, each on a cluster of its own (bench-cluster.ts): redis-server, the
 * simulator and `wxtoken serve` replicas, started and stopped by the scenario.
 */
export const clusterScenarios: Scenario[] = [
  rotationScenario,
  herdScenario,
  propagationScenario,
  failoverScenario,
];
