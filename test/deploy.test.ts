// The deployment files stay valid: every manifest in deploy/kubernetes/ validates against the
// Kubernetes API schemas (kubernetes-models: the OpenAPI schemas compiled to validators; they check
// types, required fields and formats, not unknown fields, so the settings and references below
// are checked by name), the gate's settings in them parse, secrets are referenced and never
// embedded, and the probes, ports, selectors and drain timings agree with each other and with the
// Containerfile, which is linted here. No container builder runs in CI: images cannot be pulled
// here (only the npm and Debian registries are reachable), so the Containerfile is linted instead.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseEnv, settingNames } from '../src/config.js';

const DIR = path.resolve('deploy/kubernetes');
type Doc = Record<string, any>;

const models: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'batch/v1 CronJob': CronJob,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
};

function load(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const kustomization = load('kustomization.yaml')[0]!;
const objects = files.filter((f) => f !== 'kustomization.yaml').flatMap((file) => load(file).map((doc) => ({ file, doc })));
const only = (kind: string, name?: string) => {
  const found = objects.filter((o) => o.doc.kind === kind && (!name || o.doc.metadata?.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!.doc;
};
const deployment = () => only('Deployment');
const cronJob = () => only('CronJob');
const gateContainer = () => deployment().spec.template.spec.containers[0];
const containerfile = readFileSync(path.resolve('Containerfile'), 'utf8');

describe('deploy/kubernetes', () => {
  test('every manifest validates against the Kubernetes schema of its kind, and the kustomization lists exactly these files', () => {
    expect(objects.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of objects) {
      const Model = models[`${doc.apiVersion} ${doc.kind}`];
      expect(Model, `${file}: ${doc.apiVersion} ${doc.kind} is not a kind this test knows`).toBeDefined();
      expect(() => new Model!(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`).not.toThrow();
    }
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
    const images = new Set(kustomization.images.map((i: Doc) => i.name));
    for (const c of [gateContainer(), cronJob().spec.jobTemplate.spec.template.spec.containers[0]]) expect(images.has(c.image), c.image).toBe(true);
  });

  test('the schema check is not vacuous: a wrong type or a missing field fails it', () => {
    const broken = structuredClone(deployment());
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new Deployment(broken).validate()).toThrow(/containerPort/);
    const noSelector = structuredClone(deployment());
    delete noSelector.spec.selector;
    expect(() => new Deployment(noSelector).validate()).toThrow(/selector/);
  });

  test('secrets are referenced, never embedded; every setting is one the gate reads, and the configuration parses', () => {
    expect(objects.filter((o) => o.doc.kind === 'Secret')).toEqual([]);
    const config = only('ConfigMap').data as Record<string, string>;
    const containers = [gateContainer(), cronJob().spec.jobTemplate.spec.template.spec.containers[0]];
    const env: Record<string, string> = { ...config };
    for (const c of containers) {
      for (const e of c.env ?? []) {
        expect(settingNames.includes(e.name) || e.name === 'RECONCILE_DATABASE_URL', `${c.name}: ${e.name} is not a setting`).toBe(true);
        if (/SECRET|PASSWORD|TOKEN|DATABASE_URL/.test(e.name)) {
          expect(e.value, `${e.name} must come from a Secret`).toBeUndefined();
          expect(['fdwg-gate', 'fdwg-reconcile']).toContain(e.valueFrom?.secretKeyRef?.name);
        }
        if (c === gateContainer()) env[e.name] = e.value ?? (e.valueFrom?.secretKeyRef ? `placeholder-${'x'.repeat(40)}` : '');
      }
    }
    for (const key of Object.keys(config)) expect(settingNames, `ConfigMap key ${key}`).toContain(key);
    // Two databases: the gate refuses its control database in the warehouse.
    env.CONTROL_DATABASE_URL = 'postgres://gate:secret@db.example.org:5432/fdwg_control';
    env.WAREHOUSE_DATABASE_URL = 'postgres://provisioner:secret@db.example.org:5432/datanommer';
    delete env.WEBHOOK_SECRET; // optional: absent unless the Secret has it (and then WEBHOOK_URL too)
    expect(() => parseEnv(env)).not.toThrow();
    expect(parseEnv(env).METRICS_TOKEN).toBeDefined();
  });

  test('probes, ports and selectors agree; the pod drains within its termination grace period', () => {
    const d = deployment();
    const c = gateContainer();
    const ports = new Map<string, number>(c.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(c.readinessProbe.httpGet.path).toBe('/healthz/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz/live');
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) expect(ports.has(probe.httpGet.port)).toBe(true);
    expect(ports.get('http')).toBe(Number(/^EXPOSE (\d+)$/m.exec(containerfile)?.[1]));
    expect(c.env.find((e: Doc) => e.name === 'PORT')?.value).toBe(String(ports.get('http')));
    const podLabels = d.spec.template.metadata.labels;
    expect(d.spec.selector.matchLabels).toEqual(podLabels);
    const svc = only('Service');
    expect(Object.entries(svc.spec.selector).every(([k, v]) => podLabels[k] === v)).toBe(true);
    expect(ports.has(svc.spec.ports[0].targetPort)).toBe(true);
    const grace = Number(only('ConfigMap').data.SHUTDOWN_GRACE_SECONDS);
    const preStop = Number(c.lifecycle.preStop.exec.command.at(-1));
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(grace + preStop);
  });

  test('non-root, no privilege escalation, read-only root, no API token; network policies select the gate and the reconcile pods', () => {
    const pods = [deployment().spec.template, cronJob().spec.jobTemplate.spec.template];
    for (const pod of pods) {
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
      expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      for (const c of pod.spec.containers) {
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
      const policies = objects.filter((o) => o.doc.kind === 'NetworkPolicy' && Object.entries(o.doc.spec.podSelector.matchLabels).every(([k, v]) => pod.metadata.labels[k] === v));
      expect(policies, JSON.stringify(pod.metadata.labels)).toHaveLength(1);
      expect(policies[0]!.doc.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    }
  });

  test('the CronJob is the DBA reconcile: one at a time, --apply, a script that exists', () => {
    const cj = cronJob();
    expect(cj.spec.concurrencyPolicy).toBe('Forbid');
    const command: string[] = cj.spec.jobTemplate.spec.template.spec.containers[0].command;
    expect(command.slice(0, 4)).toEqual(['node', '--import', 'tsx', 'src/node/reconcile.ts']);
    expect(command).toContain('--apply');
    expect(existsSync(path.resolve(command[3]!))).toBe(true);
    expect(JSON.parse(readFileSync('package.json', 'utf8')).scripts.reconcile).toBe('tsx src/node/reconcile.ts');
  });
});

describe('Containerfile (linted: no image can be built here)', () => {
  const lines = containerfile.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const stages = lines.reduce<string[][]>((acc, l) => (l.startsWith('FROM ') ? [...acc, [l]] : (acc.at(-1)!.push(l), acc)), []);
  const final = stages.at(-1)!;

  test('Node LTS slim, the same base for every stage, and at least the version package.json asks for', () => {
    const bases = stages.map((s) => /^FROM (\S+)/.exec(s[0]!)![1]!);
    expect(new Set(bases).size).toBe(1);
    const m = /^docker\.io\/library\/node:(\d+)-[a-z]+-slim$/.exec(bases[0]!);
    expect(m, bases[0]).not.toBeNull();
    const major = Number(m![1]);
    expect(major % 2, 'even majors are the LTS lines').toBe(0);
    const wanted = Number(/>=\s*(\d+)/.exec(JSON.parse(readFileSync('package.json', 'utf8')).engines.node)![1]);
    expect(major).toBeGreaterThanOrEqual(wanted);
  });

  test('production dependencies only, non-root, node as PID 1, every copied path exists, no secret baked in', () => {
    expect(containerfile).toMatch(/npm ci --omit=dev/);
    const user = final.find((l) => l.startsWith('USER '));
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)(:|$)/);
    expect(final.indexOf(user!)).toBeLessThan(final.findIndex((l) => l.startsWith('CMD ')));
    const cmd = JSON.parse(final.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(existsSync(cmd[3]!)).toBe(true);
    const copied = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const src of copied) expect(existsSync(path.resolve(src)), src).toBe(true);
    // What the gate reads at run time besides node_modules: its code, JSX settings, policy, migrations.
    for (const needed of ['src', 'tsconfig.json', 'policies', 'migrations', 'package.json']) expect(copied).toContain(needed);
    for (const l of lines.filter((x) => /^(ENV|ARG) /.test(x))) expect(l).not.toMatch(/SECRET|PASSWORD|TOKEN|DATABASE_URL/);
  });
});

describe('deploy/grafana', () => {
  test('the dashboard queries only metrics the gate exports, and shows each family the gate exports', () => {
    const dashboard = JSON.parse(readFileSync(path.resolve('deploy/grafana/fdwg-access-gate.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const queried = new Set(exprs.flatMap((e) => e.match(/\bfdwg_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
    const source = readdirSync(path.resolve('src/metrics')).map((f) => readFileSync(path.resolve('src/metrics', f), 'utf8')).join('\n');
    const exported = new Set(source.match(/'fdwg_[a-z_]+'/g)!.map((n) => n.slice(1, -1)));
    expect([...queried].filter((n) => !exported.has(n))).toEqual([]);
    // Families for operators' eyes; the per-action audit counter and run durations are for ad-hoc queries.
    const adHoc = ['fdwg_audit_events_total', 'fdwg_background_run_duration_seconds', 'fdwg_reconcile_changes_total', 'fdwg_reconcile_skips_audited_total'];
    expect([...exported].filter((n) => !queried.has(n) && !adHoc.includes(n))).toEqual([]);
  });
});
