#!/usr/bin/env bash
# Validates deploy/ as far as a machine without Docker or a Kubernetes cluster can:
#   - every YAML file under deploy/ parses (the `yaml` package from node_modules), JSON too;
#   - promtool: check rules, test rules (alerts.test.yml), check config (prometheus.yml), and
#     every Grafana query parses as PromQL;
#   - the k8s PrometheusRule carries exactly the groups of deploy/prometheus/alerts.yml;
#   - every metric name in the alerts and the dashboard is one wxtoken exports;
#   - the wxtoken configs (example, compose, k8s ConfigMap) pass wxtoken's own config loader;
#   - cross-references: ports, probes, secrets (and the on-call key), labels and selectors,
#     mounts, scrape targets;
#   - deploy/k8s as kustomize builds it (this script's own resolver): the Namespace, the base
#     without Prometheus Operator kinds, the overlay adding exactly ServiceMonitor and
#     PrometheusRule, every manifest listed; every object against the Kubernetes / Prometheus
#     Operator schemas packaged in npm's kubernetes-models (devDependencies), and with tsc
#     against its types, which catches unknown (misspelt) fields;
#   - with kubectl (the machine image has one; Debian's is too old for kustomize components):
#     `kubectl kustomize` of base and overlay, equal to the resolver's build, and decoded;
#   - optional (skipped with a note when the tool is missing or needs a server):
#     `kubectl apply --dry-run=client`, `docker compose config`.
# Exits non-zero when a mandatory check fails. Needs node (repo's node_modules) and promtool
# (Debian: apt-get install prometheus).
#
#   bash scripts/check-deploy.sh          check everything
#   bash scripts/check-deploy.sh --sync   first rewrite the k8s PrometheusRule (components/) from
#                                         deploy/prometheus/alerts.yml, then check
set -uo pipefail
cd "$(dirname "$0")/.."

sync=0
for arg in "$@"; do
  case "$arg" in
    --sync) sync=1 ;;
    -h | --help)
      sed -n '2,25p' "$0"
      exit 0
      ;;
    *)
      echo "check-deploy: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

failures=0
ok() { echo "ok    $*"; }
bad() {
  echo "FAIL  $*"
  failures=$((failures + 1))
}
skip() { echo "skip  $*"; }
indent() { sed 's/^/      /'; }
# check DESCRIPTION COMMAND...: mandatory; prints the command's output only when it fails.
check() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then
    ok "$desc"
  else
    bad "$desc"
    printf '%s\n' "$out" | indent
  fi
}

tmp=$(mktemp -d)
cache=node_modules/.cache/wxtoken-check-deploy
cleanup() { rm -rf "$tmp" "$cache"; }
trap cleanup EXIT

if [[ ! -d node_modules/yaml ]]; then
  echo "check-deploy: node_modules/yaml missing: run npm ci first" >&2
  exit 2
fi

# ------------------------------------------------------------------ the node side of the checks
cat >"$tmp/checks.mjs" <<'NODE'
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const root = process.cwd();
const require = createRequire(join(root, 'package.json'));
const YAML = require('yaml');
const [mode, ...args] = process.argv.slice(2);

const problems = [];
const problem = (msg) => problems.push(msg);
const done = () => {
  for (const p of problems) console.log(p);
  process.exit(problems.length ? 1 : 0);
};

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const rel = (p) => relative(root, p);
const deployFiles = walk(join(root, 'deploy'));

/** All documents of a YAML file as JS values; YAML 1.1 merge keys (compose) resolved. */
function loadYaml(path) {
  const docs = YAML.parseAllDocuments(readFileSync(path, 'utf8'), { merge: true, uniqueKeys: true });
  const errors = docs.flatMap((d) => [...d.errors, ...d.warnings]);
  if (errors.length) throw new Error(errors.map((e) => `${rel(path)}: ${e.message}`).join('\n'));
  return docs.map((d) => d.toJS({ maxAliasCount: 100 })).filter((v) => v !== null);
}
const loadOne = (p) => loadYaml(join(root, p))[0];

// The metric contract (src/metrics, design.md "Metrics"): the only names alerts and the
// dashboard may use, so a typo cannot make an alert silently never fire.
const WXTOKEN_METRICS = {
  wxtoken_token_expiry_timestamp_seconds: 'gauge',
  wxtoken_token_generation: 'gauge',
  wxtoken_token_last_refresh_timestamp_seconds: 'gauge',
  wxtoken_refreshes_total: 'counter',
  wxtoken_force_refresh_budget_remaining: 'gauge',
  wxtoken_upstream_token_fetches_today: 'gauge',
  // One family for every credential (access_token, jsapi_ticket, wx_card_ticket).
  wxtoken_credential_expiry_timestamp_seconds: 'gauge',
  wxtoken_credential_generation: 'gauge',
  wxtoken_credential_fetches_today: 'gauge',
  wxtoken_credential_state: 'gauge',
  wxtoken_upstream_request_duration_seconds: 'histogram',
  wxtoken_upstream_errors_total: 'counter',
  wxtoken_app_state: 'gauge',
  wxtoken_leader: 'gauge',
  wxtoken_leadership_changes_total: 'counter',
  wxtoken_lease_extension_failures_total: 'counter',
  wxtoken_store_up: 'gauge',
  // Issue 16: store topology and primary, and primary changes (a Sentinel promotion).
  wxtoken_store_info: 'gauge',
  wxtoken_store_primary_changes_total: 'counter',
  wxtoken_ready: 'gauge',
  wxtoken_propagation_lag_seconds: 'histogram',
  wxtoken_grpc_requests_total: 'counter',
  wxtoken_grpc_request_duration_seconds: 'histogram',
  wxtoken_code2session_total: 'counter',
  // The WeChat-compatible HTTP gateway.
  wxtoken_gateway_requests_total: 'counter',
  wxtoken_gateway_pass_through_duration_seconds: 'histogram',
  wxtoken_gateway_recoveries_total: 'counter',
  // Aggregates over every app, whatever metrics.perAppSeries (the fleet alerts).
  wxtoken_credentials: 'gauge',
  wxtoken_credential_earliest_expiry_timestamp_seconds: 'gauge',
  wxtoken_credential_fetches_today_max: 'gauge',
  wxtoken_credential_refreshes_total: 'counter',
  wxtoken_force_refresh_budget_remaining_min: 'gauge',
  wxtoken_gateway_recovery_results_total: 'counter',
  wxtoken_code2session_results_total: 'counter',
  wxtoken_metrics_apps_omitted: 'gauge',
  // Third-party platforms (components[]), per platform.
  wxtoken_component_token_state: 'gauge',
  wxtoken_component_token_expiry_timestamp_seconds: 'gauge',
  wxtoken_component_verify_ticket_timestamp_seconds: 'gauge',
  wxtoken_component_authorizers: 'gauge',
  wxtoken_component_authorizers_lost: 'gauge',
};
const OTHER_METRICS = new Set([
  'up',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
]);
function metricNameProblems(where, text) {
  const out = [];
  for (const [name] of text.matchAll(/\bwxtoken_[a-z0-9_]+/g)) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const known =
      WXTOKEN_METRICS[name] !== undefined ||
      (WXTOKEN_METRICS[base] === 'histogram' && base !== name);
    if (!known) out.push(`${where}: unknown metric ${name}`);
    if (WXTOKEN_METRICS[name] === 'histogram') out.push(`${where}: ${name} is a histogram: use _bucket/_sum/_count`);
  }
  return out;
}

const dashboardPath = join(root, 'deploy/grafana/wxtoken.json');
const dashboardTargets = (d) =>
  d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, t })));
/** A dashboard query with Grafana's variables replaced, so promtool can parse it. */
const expand = (expr) =>
  expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?[A-Za-z_]+\}?/g, '.*');

const PROMETHEUS_RULE = 'deploy/k8s/components/prometheus-operator/prometheusrule.yaml';
const K8S_NAMESPACE = 'wxtoken';
const K8S_BASE = 'deploy/k8s/base';
const K8S_OVERLAY = 'deploy/k8s/overlays/prometheus-operator';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

/**
 * What `kubectl kustomize DIR` builds, for the subset of kustomize these manifests use
 * (resources: files or directories, components, namespace), so the checks run without kubectl;
 * when kubectl is installed, check-deploy compares the two. Any other kustomization field is a
 * problem here: this resolver would silently build something else than kustomize.
 * Returns [{ f, d }] (source file, object) and records every file it read in `used`.
 */
function kustomize(dir, used = new Set(), isComponent = false) {
  const kfile = join(root, dir, 'kustomization.yaml');
  if (!existsSync(kfile)) {
    problem(`${dir}: no kustomization.yaml`);
    return [];
  }
  used.add(rel(kfile));
  const k = loadYaml(kfile)[0] ?? {};
  const wantKind = isComponent ? 'Component' : 'Kustomization';
  if (k.kind !== wantKind) problem(`${rel(kfile)}: kind ${k.kind}, expected ${wantKind}`);
  const known = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'components', 'labels']);
  for (const key of Object.keys(k)) if (!known.has(key)) problem(`${rel(kfile)}: field ${key} is not understood by check-deploy's resolver: extend it (scripts/check-deploy.sh)`);
  const out = [];
  const add = (ref, component) => {
    const p = join(root, dir, ref);
    if (!existsSync(p)) return problem(`${rel(kfile)}: ${component ? 'component' : 'resource'} ${ref} does not exist`);
    if (statSync(p).isDirectory()) out.push(...kustomize(rel(p), used, component));
    else {
      used.add(rel(p));
      out.push(...loadYaml(p).map((d) => ({ f: rel(p), d })));
    }
  };
  for (const r of k.resources ?? []) add(r, false);
  for (const c of k.components ?? []) add(c, true);
  if (k.namespace)
    for (const { d } of out) if (!CLUSTER_SCOPED.has(d.kind)) d.metadata = { ...d.metadata, namespace: k.namespace };
  // `labels` (e.g. the `release:` label a Prometheus selects by) on metadata only: labels that
  // also change selectors or pod templates are beyond this resolver.
  for (const l of k.labels ?? []) {
    if (l.includeSelectors || l.includeTemplates) problem(`${rel(kfile)}: labels with includeSelectors/includeTemplates are not understood by check-deploy's resolver`);
    for (const { d } of out) d.metadata = { ...d.metadata, labels: { ...d.metadata?.labels, ...l.pairs } };
  }
  return out;
}
const objectId = (d) => `${d.kind}/${d.metadata?.namespace ? d.metadata.namespace + '/' : ''}${d.metadata?.name}`;
const isOperatorKind = (d) => String(d.apiVersion).startsWith('monitoring.coreos.com/');

const modes = {
  // Every YAML file under deploy/ parses; every JSON file too.
  parse() {
    let n = 0;
    for (const f of deployFiles) {
      try {
        if (/\.ya?ml$/.test(f)) {
          loadYaml(f);
          n++;
        } else if (f.endsWith('.json')) {
          JSON.parse(readFileSync(f, 'utf8'));
          n++;
        }
      } catch (err) {
        problem(`${rel(f)}: ${err.message}`);
      }
    }
    if (n === 0) problem('no YAML or JSON files found under deploy/');
    console.log(`${n} files parsed`);
  },

  // The k8s PrometheusRule == deploy/prometheus/alerts.yml (spec.groups); --write regenerates it.
  prometheusrule() {
    const alerts = loadOne('deploy/prometheus/alerts.yml');
    const path = join(root, PROMETHEUS_RULE);
    if (args[0] === '--write') {
      const rule = {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: {
          name: 'wxtoken',
          labels: { 'app.kubernetes.io/name': 'wxtoken', 'app.kubernetes.io/component': 'server' },
        },
        spec: { groups: alerts.groups },
      };
      const header =
        '# GENERATED from deploy/prometheus/alerts.yml by `bash scripts/check-deploy.sh --sync`:\n' +
        '# edit alerts.yml (and its tests), then re-run that. check-deploy fails if the two differ.\n' +
        '# Add the labels your Prometheus ruleSelector expects (kube-prometheus-stack: `release: <name>`).\n';
      writeFileSync(path, header + YAML.stringify(rule, { lineWidth: 0, blockQuote: 'literal' }));
      console.log(`wrote ${rel(path)}`);
    }
    if (!existsSync(path)) return problem(`${rel(path)} is missing: run bash scripts/check-deploy.sh --sync`);
    const rule = loadYaml(path)[0];
    if (rule?.apiVersion !== 'monitoring.coreos.com/v1' || rule?.kind !== 'PrometheusRule')
      problem(`${rel(path)}: expected a monitoring.coreos.com/v1 PrometheusRule`);
    if (!isDeepStrictEqual(rule?.spec?.groups, alerts.groups))
      problem(`${rel(path)}: spec.groups differ from deploy/prometheus/alerts.yml: run bash scripts/check-deploy.sh --sync`);
    // Let promtool check the wrapped copy too (its path is args[1] when given).
    if (args[1]) writeFileSync(args[1], YAML.stringify({ groups: rule?.spec?.groups ?? [] }));
  },

  // Metric names used by the alerts and the dashboard exist; dashboard queries become a
  // rules file for promtool (args[0]) so each one is parsed as PromQL.
  metrics() {
    // The contract above against what src/metrics declares (name literals), so a rename there
    // cannot silently blind an alert.
    const metricsDir = join(root, 'src/metrics');
    if (existsSync(metricsDir)) {
      const declared = new Set(
        walk(metricsDir)
          .filter((f) => f.endsWith('.ts'))
          .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/['"`](wxtoken_[a-z0-9_]+)['"`]/g)].map((m) => m[1])),
      );
      for (const name of Object.keys(WXTOKEN_METRICS))
        if (!declared.has(name)) problem(`src/metrics declares no metric ${name} (alerts/dashboard use it)`);
    } else console.log('src/metrics not found: metric names checked against the contract list only');
    for (const f of ['deploy/prometheus/alerts.yml', PROMETHEUS_RULE]) {
      for (const g of loadOne(f)?.groups ?? loadOne(f)?.spec?.groups ?? [])
        for (const r of g.rules) problems.push(...metricNameProblems(`${f} ${r.alert ?? r.record}`, r.expr));
    }
    const d = JSON.parse(readFileSync(dashboardPath, 'utf8'));
    const rules = [];
    for (const { panel, t } of dashboardTargets(d)) {
      problems.push(...metricNameProblems(`dashboard panel "${panel.title}"`, t.expr ?? ''));
      rules.push({ record: `dashboard:panel${panel.id}:${t.refId}`, expr: expand(t.expr ?? '') });
    }
    for (const v of d.templating.list.filter((v) => v.type === 'query')) {
      problems.push(...metricNameProblems(`dashboard variable ${v.name}`, JSON.stringify(v)));
      const m = /^label_values\((.*),\s*\w+\)$/.exec(v.definition ?? '');
      if (m) rules.push({ record: `dashboard:variable:${v.name}`, expr: expand(m[1]) });
      else problem(`dashboard variable ${v.name}: expected label_values(SELECTOR, label)`);
    }
    writeFileSync(args[0], YAML.stringify({ groups: [{ name: 'dashboard-queries', rules }] }));
    console.log(`${rules.length} dashboard queries written for promtool`);
  },

  // The dashboard: datasource and app variables, every query through the datasource
  // variable, unique panel ids, and the panels the issue asks for.
  dashboard() {
    const d = JSON.parse(readFileSync(dashboardPath, 'utf8'));
    const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    if (vars.datasource?.type !== 'datasource' || vars.datasource?.query !== 'prometheus')
      problem('dashboard: needs a `datasource` variable of type datasource, query prometheus');
    if (vars.app?.type !== 'query') problem('dashboard: needs an `app` query variable');
    const all = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const ids = all.map((p) => p.id);
    if (new Set(ids).size !== ids.length) problem('dashboard: panel ids are not unique');
    for (const p of all) {
      if (!p.gridPos) problem(`dashboard panel "${p.title}": no gridPos`);
      if (p.type !== 'row' && p.datasource?.uid !== '${datasource}')
        problem(`dashboard panel "${p.title}": datasource must be the \${datasource} variable`);
    }
    for (const { panel, t } of dashboardTargets(d)) {
      if (t.datasource?.uid !== '${datasource}') problem(`dashboard panel "${panel.title}" ${t.refId}: datasource must be \${datasource}`);
      if (/wxtoken_(token|credential|refreshes|app_state|force|upstream_token|code2session)/.test(t.expr) && !t.expr.includes('app=~"$app"'))
        problem(`dashboard panel "${panel.title}": per-app query ignores $app`);
    }
    const exprs = dashboardTargets(d).map(({ t }) => t.expr).join('\n');
    for (const m of [
      'wxtoken_token_expiry_timestamp_seconds',
      'wxtoken_token_generation',
      'wxtoken_refreshes_total',
      'wxtoken_credential_expiry_timestamp_seconds',
      'wxtoken_credential_state',
      'wxtoken_credential_fetches_today',
      'wxtoken_upstream_request_duration_seconds_bucket',
      'wxtoken_upstream_errors_total',
      'wxtoken_leader',
      'wxtoken_grpc_requests_total',
      'wxtoken_grpc_request_duration_seconds_bucket',
      'wxtoken_code2session_total',
      'wxtoken_store_up',
    ])
      if (!exprs.includes(m)) problem(`dashboard: no panel shows ${m}`);
    console.log(`${all.filter((p) => p.type !== 'row').length} panels`);
  },

  // The kustomize layout: the base builds everything wxtoken needs in the namespace wxtoken and
  // no Prometheus Operator kind (so it applies without the operator's CRDs); the overlay adds
  // exactly the ServiceMonitor and the PrometheusRule; every manifest is in one of them; the
  // example Secret is in none. args: files holding `kubectl kustomize` of the base and the
  // overlay, compared with this script's own build when given.
  kustomization() {
    const used = new Set();
    const base = kustomize(K8S_BASE, used);
    const overlay = kustomize(K8S_OVERLAY, used);
    const ns = base.find(({ d }) => d.kind === 'Namespace')?.d;
    if (ns?.metadata?.name !== K8S_NAMESPACE) problem(`${K8S_BASE}: no Namespace ${K8S_NAMESPACE} (pods and the Secret need it)`);
    for (const { f, d } of overlay)
      if (!CLUSTER_SCOPED.has(d.kind) && d.metadata?.namespace !== K8S_NAMESPACE)
        problem(`${f}: ${objectId(d)} is not in the namespace ${K8S_NAMESPACE}`);
    for (const { f, d } of base) if (isOperatorKind(d)) problem(`${f}: ${objectId(d)} needs the Prometheus Operator CRDs: keep it out of the base`);
    const baseIds = new Set(base.map(({ d }) => objectId(d)));
    const added = overlay.filter(({ d }) => !baseIds.has(objectId(d))).map(({ d }) => d.kind).sort();
    if (!isDeepStrictEqual(added, ['PrometheusRule', 'ServiceMonitor']))
      problem(`${K8S_OVERLAY}: adds ${added.join(', ') || 'nothing'} to the base, expected PrometheusRule, ServiceMonitor`);
    if (overlay.length !== base.length + added.length) problem(`${K8S_OVERLAY}: does not carry the whole base`);
    const ids = overlay.map(({ d }) => objectId(d));
    if (new Set(ids).size !== ids.length) problem(`k8s: an object is defined twice: ${ids.join(', ')}`);
    for (const f of walk(join(root, 'deploy/k8s')).map(rel))
      if (/\.ya?ml$/.test(f) && !f.startsWith('deploy/k8s/examples/') && !used.has(f))
        problem(`${f}: no kustomization lists it (kubectl apply -k would leave it out)`);
    const example = loadYaml(join(root, 'deploy/k8s/examples/secret.yaml'))[0];
    if (example?.metadata?.namespace !== K8S_NAMESPACE) problem(`deploy/k8s/examples/secret.yaml: namespace must be ${K8S_NAMESPACE}`);
    // kubectl's build, when check-deploy could run it, is exactly this script's.
    for (const [file, mine, dir] of [[args[0], base, K8S_BASE], [args[1], overlay, K8S_OVERLAY]]) {
      if (!file) continue;
      const theirs = loadYaml(file);
      const byId = new Map(theirs.map((d) => [objectId(d), d]));
      const mineIds = mine.map(({ d }) => objectId(d)).sort();
      if (!isDeepStrictEqual([...byId.keys()].sort(), mineIds))
        problem(`kubectl kustomize ${dir} builds ${[...byId.keys()].sort()}, check-deploy's resolver ${mineIds}`);
      else for (const { d } of mine) if (!isDeepStrictEqual(byId.get(objectId(d)), d)) problem(`kubectl kustomize ${dir}: ${objectId(d)} differs from check-deploy's build`);
    }
    console.log(`base ${base.length} objects, overlay ${overlay.length}`);
  },

  // A kubeconform-style schema check without a cluster: every object the overlay builds, and the
  // example Secret, against the Kubernetes and Prometheus Operator OpenAPI schemas packaged in
  // the npm packages kubernetes-models and @kubernetes-models/prometheus-operator (types,
  // required fields, enums; like kubeconform without -strict, unknown fields are not caught).
  async schema() {
    const objects = [...kustomize(K8S_OVERLAY), { f: 'deploy/k8s/examples/secret.yaml', d: loadYaml(join(root, 'deploy/k8s/examples/secret.yaml'))[0] }];
    for (const { f, d } of objects) {
      const [group, version] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : ['', d.apiVersion];
      const pkg = group.endsWith('monitoring.coreos.com') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
      const entry = join(root, 'node_modules', pkg, group, version, 'index.js');
      if (!existsSync(entry)) {
        problem(`${f}: ${objectId(d)}: no schema for ${d.apiVersion} in ${pkg} (run npm ci)`);
        continue;
      }
      // CommonJS in the 4.x line (the Node 20 one): its classes may sit on the default export.
      const mod = await import(entry);
      const Model = mod[d.kind] ?? mod.default?.[d.kind];
      if (!Model) {
        problem(`${f}: ${objectId(d)}: ${pkg} has no kind ${d.kind} in ${d.apiVersion}`);
        continue;
      }
      try {
        new Model(structuredClone(d)).validate();
      } catch (err) {
        problem(`${f}: ${objectId(d)}: ${err.message}`);
      }
    }
    console.log(`${objects.length} objects validated`);
  },

  // Unknown fields, which the schema check above lets through (a misspelt `servce:` under a
  // probe is silently dropped by the API server): each object becomes a TypeScript file that
  // assigns it, as an object literal, to its kubernetes-models interface; tsc's excess-property
  // check then names any field the type does not have. One file per object, named after it, so
  // tsc's messages say which. args[0]: the folder to write into (under node_modules, where the
  // imports resolve).
  strictfiles() {
    const objects = [...kustomize(K8S_OVERLAY), { f: 'deploy/k8s/examples/secret.yaml', d: loadYaml(join(root, 'deploy/k8s/examples/secret.yaml'))[0] }];
    for (const { d } of objects) {
      const [group, version] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : ['', d.apiVersion];
      const from = group.endsWith('monitoring.coreos.com')
        ? `@kubernetes-models/prometheus-operator/${group}/${version}`
        : `kubernetes-models/${group ? group + '/' : ''}${version}`;
      const file = join(args[0], `${objectId(d).replaceAll('/', '.')}.ts`);
      writeFileSync(file, `import type { I${d.kind} } from '${from}';\nexport const object: I${d.kind} = ${JSON.stringify(d, null, 2)};\n`);
    }
    console.log(`${objects.length} objects written for tsc`);
  },

  // wxtoken's own config loader (compiled from src/config into args[0]) accepts the configs.
  async config() {
    const { parseConfig, parseConfigYaml } = await import(resolve(args[0], 'config/load-config.js'));
    const configs = [
      ['deploy/wxtoken.example.yaml', readFileSync(join(root, 'deploy/wxtoken.example.yaml'), 'utf8')],
      ['deploy/compose/wxtoken.yaml', readFileSync(join(root, 'deploy/compose/wxtoken.yaml'), 'utf8')],
      ['deploy/compose/wxtoken-sentinel.yaml', readFileSync(join(root, 'deploy/compose/wxtoken-sentinel.yaml'), 'utf8')],
      ['deploy/k8s/base/configmap.yaml data.wxtoken.yaml', loadOne('deploy/k8s/base/configmap.yaml').data['wxtoken.yaml']],
    ];
    for (const [where, text] of configs) {
      try {
        const raw = parseConfigYaml(text, where);
        // Secrets are placeholders here: each named env var / file "exists".
        const env = Object.fromEntries((raw.apps ?? []).filter((a) => a.secretEnv).map((a) => [a.secretEnv, 'placeholder']));
        const config = parseConfig(raw, { env, readFile: () => 'placeholder', warn: (m) => problem(`${where}: ${m}`) });
        const store = config.redis.sentinels.length ? 'redis sentinel' : config.redis.urls.length ? 'redis' : 'embedded';
        console.log(`${where}: ${config.apps.length} apps, store ${store}`);
      } catch (err) {
        problem(`${where}: ${err.message}`);
      }
    }
  },

  // Cross-references inside deploy/: what a typo would break at deploy time.
  structure() {
    const port = (listen) => Number(/:(\d+)$/.exec(listen)[1]);
    // wxtoken serve refuses a non-loopback grpc.listen without auth.callers unless --insecure.
    const needsInsecure = (c) =>
      !/^(localhost|127\.[0-9.]+|\[::1\]):/.test(c.grpc?.listen ?? '0.0.0.0:50051') && !(c.auth?.callers?.length > 0);

    // ---- compose
    const composeDir = join(root, 'deploy');
    const compose = loadOne('deploy/compose.yaml');
    const cfg = loadOne('deploy/compose/wxtoken.yaml');
    const s = compose.services ?? {};
    const replicas = Object.keys(s).filter((n) => /^wxtoken-\d+$/.test(n));
    if (replicas.length !== 3) problem(`compose: expected 3 wxtoken replicas, found ${replicas.join(', ') || 'none'}`);
    for (const need of ['redis', 'sim', 'prometheus', 'grafana']) if (!s[need]) problem(`compose: no ${need} service`);
    for (const [name, svc] of Object.entries(s)) {
      if (svc.build) {
        const ctx = resolve(composeDir, svc.build.context ?? '.');
        if (!existsSync(join(ctx, svc.build.dockerfile ?? 'Dockerfile'))) problem(`compose ${name}: no Dockerfile at ${rel(ctx)}`);
      }
      for (const v of svc.volumes ?? []) {
        const src = String(v).split(':')[0];
        if ((src.startsWith('./') || src.startsWith('../')) && !existsSync(resolve(composeDir, src)))
          problem(`compose ${name}: mounted ${src} does not exist`);
      }
    }
    const secretEnvs = cfg.apps.map((a) => a.secretEnv).filter(Boolean);
    for (const r of replicas) {
      const svc = s[r];
      if (!svc.build) problem(`compose ${r}: not built from the Dockerfile`);
      const mount = (svc.volumes ?? []).find((v) => String(v).startsWith('./compose/wxtoken.yaml:'));
      if (!mount) problem(`compose ${r}: does not mount ./compose/wxtoken.yaml`);
      const inContainer = mount && String(mount).split(':')[1];
      const cmd = svc.command ?? [];
      const cfgArg = cmd[cmd.indexOf('--config') + 1];
      if (!cmd.includes('serve') || cfgArg !== inContainer) problem(`compose ${r}: command must be serve --config ${inContainer}`);
      for (const e of secretEnvs) if (!svc.environment?.[e]) problem(`compose ${r}: secret env ${e} (apps[].secretEnv) not set`);
      if (needsInsecure(cfg) && !cmd.includes('--insecure'))
        problem(`compose ${r}: grpc.listen ${cfg.grpc.listen} without auth.callers needs serve --insecure`);
    }
    const base = new URL(cfg.wechat.baseUrl);
    const simCmd = (s.sim?.command ?? []).map(String);
    if (base.hostname !== 'sim' || simCmd[simCmd.indexOf('--listen') + 1] !== `0.0.0.0:${base.port}`)
      problem(`compose: wechat.baseUrl ${cfg.wechat.baseUrl} does not reach the sim's --listen`);
    const simApps = simCmd.flatMap((a, i) => (simCmd[i - 1] === '--app' ? [a] : []));
    for (const a of cfg.apps) {
      const given = simApps.find((x) => x.startsWith(`${a.appId}:`));
      if (!given) problem(`compose: the simulator does not know app ${a.appId}`);
      else if (a.secretEnv && !given.includes(`\${${a.secretEnv}`)) problem(`compose: the sim's secret of ${a.appId} is not \${${a.secretEnv}}`);
    }
    for (const u of cfg.redis?.urls ?? []) if (!s[new URL(u).hostname]) problem(`compose: redis url ${u} names no service`);
    const prom = loadOne('deploy/prometheus/prometheus.yml');
    const job = prom.scrape_configs.find((j) => j.job_name === 'wxtoken');
    const targets = (job?.static_configs ?? []).flatMap((c) => c.targets).sort();
    const want = replicas.map((r) => `${r}:${port(cfg.metrics.listen)}`).sort();
    if (!isDeepStrictEqual(targets, want)) problem(`prometheus.yml: job wxtoken targets ${targets} != ${want}`);
    const promMounts = (s.prometheus?.volumes ?? []).map(String);
    for (const f of prom.rule_files ?? [])
      if (!promMounts.some((m) => m.endsWith(`:/etc/prometheus/${f}:ro`) || m.endsWith(`:/etc/prometheus/${f}`)))
        problem(`compose prometheus: rule file ${f} not mounted beside prometheus.yml`);
    const dsFile = loadOne('deploy/grafana/provisioning/datasources/prometheus.yaml');
    if (!dsFile.datasources.some((d) => d.type === 'prometheus' && d.url === 'http://prometheus:9090'))
      problem('grafana provisioning: no prometheus datasource at http://prometheus:9090');
    const dbFile = loadOne('deploy/grafana/provisioning/dashboards/wxtoken.yaml');
    const dbPath = dbFile.providers[0].options.path;
    if (!(s.grafana?.volumes ?? []).some((v) => String(v).startsWith('./grafana/wxtoken.json:' + dbPath + '/')))
      problem(`compose grafana: wxtoken.json not mounted under the provider path ${dbPath}`);

    // ---- kubernetes: what the overlay (base + Prometheus Operator component) builds, plus the
    // example Secret, which no kustomization lists.
    const docs = [...kustomize(K8S_OVERLAY), ...loadYaml(join(root, 'deploy/k8s/examples/secret.yaml')).map((d) => ({ f: 'deploy/k8s/examples/secret.yaml', d }))];
    for (const { f, d } of docs)
      if (!d.apiVersion || !d.kind || !d.metadata?.name) problem(`${f}: a document without apiVersion, kind or metadata.name`);
    const find = (kind, name) => docs.find(({ d }) => d.kind === kind && (!name || d.metadata.name === name))?.d;
    const dep = find('Deployment');
    const cm = find('ConfigMap');
    const secret = find('Secret');
    const svc = find('Service', 'wxtoken');
    const pdb = find('PodDisruptionBudget');
    const sm = find('ServiceMonitor');
    const pr = find('PrometheusRule');
    for (const [k, v] of Object.entries({ Deployment: dep, ConfigMap: cm, 'Secret (example)': secret, 'Service wxtoken': svc, PodDisruptionBudget: pdb, ServiceMonitor: sm, PrometheusRule: pr }))
      if (!v) problem(`k8s: no ${k}`);
    if (!dep || !cm || !svc || !pdb || !sm) return;
    const k8sCfg = YAML.parse(cm.data['wxtoken.yaml']);
    const grpcPort = port(k8sCfg.grpc.listen);
    const metricsPort = port(k8sCfg.metrics.listen);
    const pod = dep.spec.template;
    const podLabels = pod.metadata.labels;
    const matches = (sel) => Object.entries(sel ?? {}).every(([k, v]) => podLabels[k] === v) && Object.keys(sel ?? {}).length > 0;
    if (dep.spec.replicas !== 3) problem('k8s Deployment: replicas must be 3');
    if (!matches(dep.spec.selector.matchLabels)) problem('k8s Deployment: selector does not match the pod labels');
    const psc = pod.spec.securityContext ?? {};
    if (psc.runAsNonRoot !== true || !(psc.runAsUser > 0)) problem('k8s Deployment: pod must run as non-root with a numeric runAsUser');
    const c = pod.spec.containers.find((x) => x.name === 'wxtoken');
    if (!c) return problem('k8s Deployment: no container wxtoken');
    const csc = c.securityContext ?? {};
    if (csc.allowPrivilegeEscalation !== false || csc.runAsUser === 0) problem('k8s Deployment: container may escalate privileges');
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
      problem('k8s Deployment: resources need cpu/memory requests and a memory limit');
    const cport = (name) => c.ports.find((p) => p.name === name)?.containerPort;
    if (cport('grpc') !== grpcPort) problem(`k8s Deployment: containerPort grpc != grpc.listen port ${grpcPort}`);
    if (cport('metrics') !== metricsPort) problem(`k8s Deployment: containerPort metrics != metrics.listen port ${metricsPort}`);
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      if (c[probe]?.grpc?.port !== grpcPort) problem(`k8s Deployment: ${probe} must be a native grpc probe on ${grpcPort}`);
    }
    // Readiness is service "" (this replica can serve); liveness is the separate "liveness"
    // service, which never follows Redis, WeChat or an app's token (a restart cures none).
    if (c.readinessProbe?.grpc?.service) problem('k8s Deployment: readinessProbe must check service "" (readiness)');
    if (c.livenessProbe?.grpc?.service !== 'liveness') problem('k8s Deployment: livenessProbe must check service "liveness", not readiness');
    const preStop = c.lifecycle?.preStop;
    const preStopSeconds = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.[1]);
    if (!(preStopSeconds > 0)) problem('k8s Deployment: needs a preStop sleep');
    // SIGTERM: drain in-flight calls (<= 5 s), release the lease, close Redis.
    if (!(pod.spec.terminationGracePeriodSeconds >= preStopSeconds + 15))
      problem('k8s Deployment: terminationGracePeriodSeconds must cover preStop + 15 s of shutdown');
    const args = c.args ?? [];
    const cfgPath = args[args.indexOf('--config') + 1];
    const cfgMount = c.volumeMounts.find((m) => cfgPath?.startsWith(m.mountPath + '/'));
    const cfgVol = pod.spec.volumes.find((v) => v.name === cfgMount?.name);
    if (!args.includes('serve') || cfgVol?.configMap?.name !== cm.metadata.name || !cm.data[basename(cfgPath ?? '')])
      problem(`k8s Deployment: serve --config ${cfgPath} is not the ConfigMap's ${Object.keys(cm.data)}`);
    if (args.includes('--insecure')) problem('k8s Deployment: no --insecure in a cluster: configure auth.callers');
    if (needsInsecure(k8sCfg)) problem('k8s ConfigMap: grpc.listen is not loopback and auth.callers is empty: wxtoken serve would exit');
    if (k8sCfg.tls) problem('k8s: with grpc TLS on, the kubelet\'s native grpc probes (plaintext) fail: switch the probes');
    for (const [i, a] of k8sCfg.apps.entries()) {
      if (a.secretEnv) {
        const e = c.env?.find((x) => x.name === a.secretEnv);
        const ref = e?.valueFrom?.secretKeyRef;
        if (!ref) problem(`k8s Deployment: apps[${i}].secretEnv ${a.secretEnv} is not set from a Secret`);
        else if (secret && (ref.name !== secret.metadata.name || !(ref.key in (secret.stringData ?? secret.data ?? {}))))
          problem(`k8s: env ${a.secretEnv} reads ${ref.name}/${ref.key}, which the example Secret does not have`);
      }
      if (a.secretFile) {
        const m = c.volumeMounts.find((x) => a.secretFile.startsWith(x.mountPath + '/'));
        const v = pod.spec.volumes.find((x) => x.name === m?.name);
        const file = a.secretFile.slice((m?.mountPath.length ?? 0) + 1);
        const item = v?.secret?.items?.find((it) => it.path === file);
        if (!v?.secret) problem(`k8s Deployment: apps[${i}].secretFile ${a.secretFile} is not on a Secret volume`);
        else if (v.secret.items && !item) problem(`k8s Deployment: secret volume has no item for ${file}`);
        else if (secret && !((item?.key ?? file) in (secret.stringData ?? secret.data ?? {})))
          problem(`k8s: apps[${i}].secretFile key ${item?.key ?? file} is not in the example Secret`);
      }
    }
    // The RUNBOOK's `kubectl exec ... node bin/wxtoken.js status` authenticates with the key file
    // WXTOKEN_KEY_FILE names: it must be an item of a mounted Secret volume that the example
    // Secret has, and the ConfigMap must have the `oncall` caller with the scopes status and
    // refresh need (admin, token:refresh).
    const keyFile = c.env?.find((e) => e.name === 'WXTOKEN_KEY_FILE')?.value;
    const keyMount = keyFile && c.volumeMounts.find((x) => keyFile.startsWith(x.mountPath + '/'));
    const keyVol = keyMount && pod.spec.volumes.find((x) => x.name === keyMount.name);
    const keyItem = keyVol?.secret?.items?.find((it) => it.path === keyFile.slice(keyMount.mountPath.length + 1));
    if (!keyFile) problem('k8s Deployment: no WXTOKEN_KEY_FILE env: the on-call commands run through kubectl exec have no key');
    else if (!keyItem) problem(`k8s Deployment: WXTOKEN_KEY_FILE ${keyFile} is not an item of a mounted Secret volume`);
    else if (secret && !(keyItem.key in (secret.stringData ?? secret.data ?? {}))) problem(`k8s: the example Secret has no key ${keyItem.key} (WXTOKEN_KEY_FILE)`);
    for (const v of pod.spec.volumes.filter((x) => x.secret?.items))
      for (const it of v.secret.items)
        if (secret && !(it.key in (secret.stringData ?? secret.data ?? {}))) problem(`k8s: volume ${v.name} mounts key ${it.key}, which the example Secret does not have`);
    const oncallCaller = (k8sCfg.auth?.callers ?? []).find((x) => x.name === 'oncall');
    if (!['admin', 'token:refresh'].every((sc) => oncallCaller?.scopes?.includes(sc)))
      problem('k8s ConfigMap: auth.callers needs `oncall` with the scopes admin and token:refresh (status, refresh)');
    if (!matches(svc.spec.selector)) problem('k8s Service wxtoken: selector does not match the pods');
    for (const [name, p] of [['grpc', grpcPort], ['metrics', metricsPort]]) {
      const sp = svc.spec.ports.find((x) => x.name === name);
      if (!sp || sp.port !== p || (sp.targetPort !== name && sp.targetPort !== p)) problem(`k8s Service wxtoken: port ${name} must be ${p} -> ${name}`);
    }
    if (!matches(pdb.spec.selector?.matchLabels) || pdb.spec.minAvailable !== 2) problem('k8s PodDisruptionBudget: minAvailable 2 for the wxtoken pods');
    if (sm.apiVersion !== 'monitoring.coreos.com/v1') problem('k8s ServiceMonitor: apiVersion must be monitoring.coreos.com/v1');
    const services = docs.filter(({ d }) => d.kind === 'Service').map(({ d }) => d);
    const selected = services.filter((x) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => x.metadata.labels?.[k] === v));
    if (selected.length !== 1 || selected[0] !== svc)
      problem(`k8s ServiceMonitor: must select exactly Service wxtoken (selects ${selected.map((x) => x.metadata.name)}); scraping a pod twice doubles every sum`);
    if (!sm.spec.endpoints.some((e) => svc.spec.ports.some((p) => p.name === e.port && p.name === 'metrics')))
      problem('k8s ServiceMonitor: no endpoint on the Service port metrics');
  },
};

if (!modes[mode]) {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
await modes[mode]();
done();
NODE

node_check() { node "$tmp/checks.mjs" "$@"; }

echo "check-deploy: validating deploy/ ($(promtool --version 2>/dev/null | head -1 || echo 'promtool missing'))"

# ------------------------------------------------------------------ parse
check "YAML and JSON under deploy/ parse" node_check parse

# ------------------------------------------------------------------ Prometheus
if [[ $sync == 1 ]]; then
  node_check prometheusrule --write "$tmp/prometheusrule-groups.yml" | indent
  # Keep the generated file in the repository's style (npm run lint runs prettier --check).
  npx --no-install prettier --log-level warn --write deploy/k8s/components/prometheus-operator/prometheusrule.yaml | indent
fi
if command -v promtool >/dev/null 2>&1; then
  check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
  check "promtool test rules deploy/prometheus/alerts.test.yml" promtool test rules deploy/prometheus/alerts.test.yml
  check "promtool check config deploy/prometheus/prometheus.yml (with its rule files)" \
    promtool check config deploy/prometheus/prometheus.yml
  check "k8s PrometheusRule carries exactly the groups of alerts.yml" \
    node_check prometheusrule "" "$tmp/prometheusrule-groups.yml"
  if [[ -s $tmp/prometheusrule-groups.yml ]]; then
    check "promtool check rules on the k8s PrometheusRule's groups" promtool check rules "$tmp/prometheusrule-groups.yml"
  fi
  check "metric names in alerts and dashboard are wxtoken's" node_check metrics "$tmp/dashboard-queries.yml"
  if [[ -s $tmp/dashboard-queries.yml ]]; then
    check "every dashboard query parses as PromQL (promtool)" promtool check rules "$tmp/dashboard-queries.yml"
  fi
else
  bad "promtool not found (Debian: apt-get install --no-install-recommends prometheus): rules untested"
fi

# ------------------------------------------------------------------ Grafana
check "dashboard: variables, datasource, panels" node_check dashboard

# ------------------------------------------------------------------ wxtoken configs
# Compile wxtoken's config loader from src/ (not dist/, which may be stale or absent) with the
# project's compiler options. Type errors are lint's business: go on if the JavaScript came out.
cat >"$tmp/tsconfig.json" <<JSON
{
  "extends": "$PWD/tsconfig.json",
  "compilerOptions": {
    "rootDir": "$PWD/src",
    "outDir": "$PWD/$cache",
    "sourceMap": false,
    "noEmitOnError": false,
    "incremental": false,
    "typeRoots": ["$PWD/node_modules/@types"]
  },
  "include": [],
  "files": ["$PWD/src/config/load-config.ts"]
}
JSON
out=$(npx --no-install tsc -p "$tmp/tsconfig.json" 2>&1)
if [[ -f $cache/config/load-config.js ]]; then
  [[ -n $out ]] && echo "note  tsc reported type errors in src/ (npm run lint shows them); config check goes on"
  check "wxtoken configs (example, compose, k8s ConfigMap) pass wxtoken's config loader" \
    node_check config "$cache"
else
  bad "compiling src/config/load-config.ts for the config check"
  printf '%s\n' "$out" | indent
fi

# ------------------------------------------------------------------ cross-references
check "compose and k8s cross-references (ports, probes, secrets, selectors, mounts, targets)" \
  node_check structure

# ------------------------------------------------------------------ Kubernetes: kustomize, schemas
check "k8s kustomize layout: namespace, base without operator CRDs, overlay adds ServiceMonitor + PrometheusRule" \
  node_check kustomization
check "k8s objects match the Kubernetes / Prometheus Operator schemas (kubernetes-models)" node_check schema
strict_dir="$cache/k8s-strict"
mkdir -p "$strict_dir"
if out=$(node_check strictfiles "$strict_dir" 2>&1); then
  check "k8s objects have no field unknown to their Kubernetes / Prometheus Operator type (tsc)" \
    npx --no-install tsc --ignoreConfig --noEmit --strict --skipLibCheck --module nodenext \
    --moduleResolution nodenext --types node "$strict_dir"/*.ts
else
  bad "writing the k8s objects for the unknown-field check"
  printf '%s\n' "$out" | indent
fi
# `kubectl kustomize` needs no server: the build kubectl apply -k would send. Debian's own
# kubernetes-client (1.20) embeds a kustomize too old for components, so no install step: a
# machine without a recent kubectl runs the resolver checks above only, and says so.
if command -v kubectl >/dev/null 2>&1; then
  export KUBECONFIG="$tmp/empty-kubeconfig" # never the user's real cluster
  : >"$KUBECONFIG"
  built=1
  for d in base overlays/prometheus-operator; do
    f="$tmp/kustomize-${d//\//-}.yaml"
    if out=$(timeout 60 kubectl kustomize "deploy/k8s/$d" 2>&1 >"$f"); then
      ok "kubectl kustomize deploy/k8s/$d ($(grep -c '^kind:' "$f") objects)"
    else
      bad "kubectl kustomize deploy/k8s/$d"
      printf '%s\n' "$out" | indent
      built=0
    fi
  done
  if ((built)); then
    check "kubectl kustomize builds exactly what check-deploy's resolver built" \
      node_check kustomization "$tmp/kustomize-base.yaml" "$tmp/kustomize-overlays-prometheus-operator.yaml"
    # What kubectl does offline beyond kustomize: decode every built object (and the example).
    if out=$(timeout 60 kubectl annotate --local -o name -f "$tmp/kustomize-overlays-prometheus-operator.yaml" \
      -f deploy/k8s/examples/secret.yaml check-deploy=1 2>&1); then
      ok "kubectl --local decodes every built object ($(wc -l <<<"$out") objects)"
    else
      bad "kubectl --local could not decode the built objects"
      printf '%s\n' "$out" | indent
    fi
  fi
  # `kubectl apply --dry-run=client` still asks an API server for discovery and OpenAPI: try it,
  # and skip with a note when it needs a server (no cluster here).
  if out=$(timeout 60 kubectl apply --dry-run=client -k deploy/k8s/base 2>&1); then
    ok "kubectl apply --dry-run=client -k deploy/k8s/base"
  elif grep -qiE 'connection refused|unable to recognize|failed to download openapi|couldn.t get current server|no configuration has been provided|dial tcp' <<<"$out"; then
    skip "kubectl apply --dry-run=client -k: kubectl needs an API server even for a client dry run"
  else
    bad "kubectl apply --dry-run=client -k deploy/k8s/base"
    printf '%s\n' "$out" | indent
  fi
  unset KUBECONFIG
else
  skip "kubectl kustomize / apply --dry-run=client: no kubectl here (the resolver and schema checks above ran)"
fi

# ------------------------------------------------------------------ optional: compose
if docker compose version >/dev/null 2>&1; then
  check "docker compose config (deploy/compose.yaml)" docker compose -f deploy/compose.yaml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  # Compose v1 (Debian's docker-compose) validates the Compose Specification except the
  # top-level `name`, which it predates: check a copy without it, paths relative to deploy/.
  grep -v '^name:' deploy/compose.yaml >"$tmp/compose-v1.yaml"
  check "docker-compose (v1) config (deploy/compose.yaml without its top-level name)" \
    docker-compose --project-directory deploy -f "$tmp/compose-v1.yaml" config -q
else
  skip "docker compose config: no compose CLI here (the structural checks above cover compose.yaml)"
fi

if ((failures)); then
  echo "check-deploy: $failures check(s) failed"
  exit 1
fi
echo "check-deploy: all mandatory checks passed"
