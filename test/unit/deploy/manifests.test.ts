import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../../src/config/load.ts';
import { SETTINGS } from '../../../src/config/schema.ts';
import { kubeFiles, ROOT, yamlDocs } from './files.ts';

const NAMESPACE = 'dr-chatops';
const EXAMPLE_SECRET = 'secret.example.yaml';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

const Labels = z.record(z.string(), z.string());
const Meta = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  labels: Labels.optional(),
  annotations: Labels.optional(),
});
const K8sObject = z.object({ apiVersion: z.string().min(1), kind: z.string().min(1), metadata: Meta });

const Port = z.union([z.string(), z.number().int()]);
const HttpProbe = z.object({ httpGet: z.object({ path: z.string(), port: Port }) });
const Quantity = z.union([z.string(), z.number()]);
const Resources = z.object({ cpu: Quantity, memory: Quantity });
const Container = z.object({
  name: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  args: z.array(z.string()),
  ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number().int() })).min(1),
  envFrom: z.array(z.object({ configMapRef: z.object({ name: z.string() }).optional(), secretRef: z.object({ name: z.string() }).optional() })).default([]),
  env: z
    .array(
      z.object({
        name: z.string(),
        value: z.string().optional(),
        valueFrom: z
          .object({
            secretKeyRef: z.object({ name: z.string(), key: z.string(), optional: z.boolean().optional() }).optional(),
            configMapKeyRef: z.object({ name: z.string(), key: z.string() }).optional(),
          })
          .optional(),
      }),
    )
    .default([]),
  readinessProbe: HttpProbe,
  livenessProbe: HttpProbe,
  resources: z.object({ requests: Resources, limits: Resources }),
  securityContext: z.object({
    runAsNonRoot: z.literal(true),
    readOnlyRootFilesystem: z.literal(true),
    allowPrivilegeEscalation: z.literal(false),
    capabilities: z.object({ drop: z.array(z.string()).refine((d) => d.includes('ALL'), 'must drop ALL') }),
  }),
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })).default([]),
});
const Deployment = K8sObject.extend({
  kind: z.literal('Deployment'),
  spec: z.object({
    replicas: z.number().int(),
    selector: z.object({ matchLabels: Labels }),
    template: z.object({
      metadata: z.object({ labels: Labels }),
      spec: z.object({
        serviceAccountName: z.string(),
        terminationGracePeriodSeconds: z.number().int(),
        securityContext: z.object({ runAsNonRoot: z.literal(true) }),
        containers: z.array(Container).length(1),
        volumes: z.array(z.object({ name: z.string(), configMap: z.object({ name: z.string() }).optional() })).default([]),
      }),
    }),
  }),
});
type Deployment = z.infer<typeof Deployment>;
const Pdb = K8sObject.extend({
  kind: z.literal('PodDisruptionBudget'),
  spec: z.object({ minAvailable: z.number().int(), selector: z.object({ matchLabels: Labels }) }),
});
const Service = K8sObject.extend({
  kind: z.literal('Service'),
  spec: z.object({ selector: Labels, ports: z.array(z.object({ port: z.number().int(), targetPort: Port })).min(1) }),
});
const ConfigMap = K8sObject.extend({ kind: z.literal('ConfigMap'), data: z.record(z.string(), z.string()).nullish() });
const Secret = K8sObject.extend({ kind: z.literal('Secret'), stringData: z.record(z.string(), z.string()) });
const Kustomization = z.object({
  kind: z.literal('Kustomization'),
  resources: z.array(z.string()),
  images: z.array(z.object({ name: z.string() })).default([]),
});

const applied = kubeFiles().filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && f !== EXAMPLE_SECRET);
const docs = applied.flatMap((f) => yamlDocs(`deploy/kubernetes/${f}`));
const objects = docs.map((d) => ({ file: d.file, ...K8sObject.loose().parse(d.value), raw: d.value }));
const ofKind = <T extends z.ZodType>(kind: string, schema: T): z.infer<T>[] => objects.filter((o) => o.kind === kind).map((o) => schema.parse(o.raw));

const deployments = ofKind('Deployment', Deployment);
const configMaps = ofKind('ConfigMap', ConfigMap);
const configMap = (name: string) => {
  const found = configMaps.find((c) => c.metadata.name === name);
  if (!found) throw new Error(`no ConfigMap ${name} in deploy/kubernetes`);
  return found;
};
const deployment = (name: string): Deployment => {
  const found = deployments.find((d) => d.metadata.name === name);
  if (!found) throw new Error(`no Deployment ${name} in deploy/kubernetes`);
  return found;
};
const containerOf = (d: Deployment) => d.spec.template.spec.containers[0]!;
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const envFromConfigMaps = (d: Deployment) => containerOf(d).envFrom.flatMap((e) => (e.configMapRef ? [configMap(e.configMapRef.name)] : []));
/** What the process sees from the ConfigMaps (secrets left out), parsed by the real config loader. */
const effectiveConfig = (d: Deployment) =>
  loadConfig({ env: Object.assign({}, ...envFromConfigMaps(d).map((c) => c.data ?? {})) as NodeJS.ProcessEnv, needsSlack: false });
const exampleSecret = Secret.parse(yamlDocs(`deploy/kubernetes/${EXAMPLE_SECRET}`)[0]?.value);
const settingNames = new Set<string>(SETTINGS.map((s) => s.env));
const secretNames = new Set<string>(SETTINGS.filter((s) => 'secret' in s && s.secret).map((s) => s.env));
const BOT = 'dr-chatops-bot';
const WORKER = 'dr-chatops-worker';

describe('deploy/kubernetes manifests', () => {
  it('every document parses and names its apiVersion, kind and name', () => {
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) {
      const parsed = K8sObject.safeParse(d.value);
      expect(parsed.success, `${d.file} document ${d.index}: ${parsed.error?.message ?? ''}`).toBe(true);
    }
  });

  it('sets the namespace on every namespaced object (dr-chatops, Velero objects in Velero’s namespace)', () => {
    const velero = effectiveConfig(deployment(WORKER)).kubernetes.veleroNamespace;
    expect(objects.some((o) => o.kind === 'Namespace' && o.metadata.name === NAMESPACE)).toBe(true);
    for (const o of objects) {
      const where = `${o.file}: ${o.kind} ${o.metadata.name}`;
      if (CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, where).toBeUndefined();
      // Per-namespace grants of the workload rules, in the namespaces runbooks change (checked in rbac.test.ts).
      else if (o.kind === 'RoleBinding' && (o.raw as { roleRef?: { kind?: string } }).roleRef?.kind === 'ClusterRole') expect(o.metadata.namespace, where).toBeDefined();
      // Velero's objects in Velero's namespace; reading a drill's own configuration in its namespace.
      else if (o.kind === 'Role' || o.kind === 'RoleBinding') expect([NAMESPACE, velero, 'dr-drill-config'], where).toContain(o.metadata.namespace);
      else expect(o.metadata.namespace, where).toBe(NAMESPACE);
    }
  });

  it('runs the bot (2 replicas) and the workers (at least 2) from the image entry point', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([BOT, WORKER]);
    expect(deployment(BOT).spec.replicas).toBe(2);
    expect(deployment(WORKER).spec.replicas).toBeGreaterThanOrEqual(2);
    for (const [name, role] of [[BOT, 'bot'], [WORKER, 'worker']] as const) {
      const c = containerOf(deployment(name));
      expect(c.command).toEqual(['node', 'src/main.ts']);
      expect(c.args).toEqual(['--role', role]);
    }
  });

  it('selects each Deployment’s own pods', () => {
    for (const d of deployments) {
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), d.metadata.name).toBe(true);
      const others = deployments.filter((o) => o !== d && matches(d.spec.selector.matchLabels, o.spec.template.metadata.labels));
      expect(others, `${d.metadata.name} selector also matches other pods`).toEqual([]);
    }
  });

  it('has a PodDisruptionBudget (minAvailable 1) for each Deployment, selecting its pods', () => {
    const pdbs = ofKind('PodDisruptionBudget', Pdb);
    for (const p of pdbs) {
      expect(p.spec.minAvailable, p.metadata.name).toBe(1);
      expect(deployments.filter((d) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels)).length, p.metadata.name).toBe(1);
    }
    for (const d of deployments) {
      expect(pdbs.some((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels)), `${d.metadata.name} has no PDB`).toBe(true);
    }
  });

  it('probes /readyz on METRICS_PORT (the only port serving it) and /healthz on PORT', () => {
    for (const d of deployments) {
      const c = containerOf(d);
      const port = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x) => x.name === p)?.containerPort);
      const { port: configured, metricsPort } = effectiveConfig(d);
      expect(c.ports.map((p) => p.containerPort), d.metadata.name).toEqual([configured, metricsPort]);
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(port(c.readinessProbe.httpGet.port), d.metadata.name).toBe(metricsPort);
      expect(port(c.livenessProbe.httpGet.port), d.metadata.name).toBe(configured);
    }
  });

  it('exposes the bot (not the workers) through a Service on PORT only, never METRICS_PORT', () => {
    const services = ofKind('Service', Service);
    expect(services).toHaveLength(1);
    const svc = services[0]!;
    const bot = deployment(BOT);
    expect(matches(svc.spec.selector, bot.spec.template.metadata.labels)).toBe(true);
    expect(matches(svc.spec.selector, deployment(WORKER).spec.template.metadata.labels)).toBe(false);
    const c = containerOf(bot);
    for (const p of svc.spec.ports) {
      const target = typeof p.targetPort === 'number' ? p.targetPort : c.ports.find((x) => x.name === p.targetPort)?.containerPort;
      expect(target).toBe(effectiveConfig(bot).port);
      expect(target).not.toBe(effectiveConfig(bot).metricsPort);
    }
  });

  it('sets only environment variables that src/config/schema.ts reads, secrets only from the Secret', () => {
    for (const d of deployments) {
      const c = containerOf(d);
      for (const e of c.env) {
        expect(settingNames, `${d.metadata.name}: env ${e.name}`).toContain(e.name);
        expect(Boolean(e.valueFrom?.secretKeyRef), `${d.metadata.name}: ${e.name} must come from a secretKeyRef exactly when it is a secret`).toBe(secretNames.has(e.name));
      }
      expect(c.envFrom.every((e) => e.secretRef === undefined), 'no envFrom secretRef: it would inject keys unchecked').toBe(true);
      for (const cm of envFromConfigMaps(d)) {
        for (const key of Object.keys(cm.data ?? {})) {
          expect(settingNames, `ConfigMap ${cm.metadata.name}: ${key}`).toContain(key);
          expect(secretNames.has(key), `ConfigMap ${cm.metadata.name}: ${key} is a secret`).toBe(false);
        }
      }
      expect(() => effectiveConfig(d)).not.toThrow();
    }
  });

  it('references only keys the example Secret has, and the example has every secret setting', () => {
    const refs = deployments.flatMap((d) => containerOf(d).env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref.name).toBe(exampleSecret.metadata.name);
      expect(Object.keys(exampleSecret.stringData)).toContain(ref.key);
    }
    expect(Object.keys(exampleSecret.stringData).sort()).toEqual([...secretNames].sort());
    expect(exampleSecret.metadata.namespace).toBe(NAMESPACE);
    expect(objects.some((o) => o.kind === 'Secret'), 'real secrets must not be applied from the repo').toBe(false);
  });

  it('runs locked down: non-root, read-only root, no privilege escalation, no capabilities, requests and limits', () => {
    // The schema above enforces the container securityContext and resources; this checks every Deployment passed it.
    for (const d of deployments) {
      expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      expect(containerOf(d).securityContext.capabilities.drop).toContain('ALL');
    }
  });

  it('gives SIGTERM longer than the shutdown timeout before SIGKILL', () => {
    for (const d of deployments) {
      const { shutdownTimeoutMs } = effectiveConfig(d);
      expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000, d.metadata.name).toBeGreaterThanOrEqual(shutdownTimeoutMs + 10_000);
    }
  });

  it('uses a ServiceAccount annotated for IRSA', () => {
    for (const d of deployments) {
      const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === d.spec.template.spec.serviceAccountName);
      expect(sa, d.metadata.name).toBeDefined();
      expect(sa?.metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]+$/);
    }
  });

  it('mounts the runbooks and template overrides where the config reads them', () => {
    const commands = readdirSync(join(ROOT, 'commands')).filter((f) => /\.ya?ml$/.test(f)).sort();
    const templates = readdirSync(join(ROOT, 'templates'));
    for (const d of deployments) {
      const { paths } = effectiveConfig(d);
      const c = containerOf(d);
      const mountedConfigMap = (path: string | undefined) => {
        const mount = c.volumeMounts.find((m) => m.mountPath === path);
        const name = d.spec.template.spec.volumes.find((v) => v.name === mount?.name)?.configMap?.name;
        return name ? configMap(name) : undefined;
      };
      const runbooks = mountedConfigMap(paths.commandsDir);
      expect(runbooks, `${d.metadata.name}: nothing mounted at COMMANDS_DIR ${paths.commandsDir}`).toBeDefined();
      expect(Object.keys(runbooks?.data ?? {}).sort()).toEqual(commands);
      const overrides = mountedConfigMap(paths.templatesOverrideDir);
      expect(overrides, `${d.metadata.name}: nothing mounted at TEMPLATES_OVERRIDE_DIR ${paths.templatesOverrideDir ?? '(unset)'}`).toBeDefined();
      for (const key of Object.keys(overrides?.data ?? {})) expect(templates, `template override ${key}`).toContain(key);
      // The shipped templates stay in the image, outside any mount.
      expect(paths.templatesDir).toBe('/app/templates');
      expect(c.volumeMounts.some((m) => paths.templatesDir.startsWith(m.mountPath))).toBe(false);
    }
  });

  it('kustomization lists every manifest except the example Secret, and names the image', () => {
    const k = Kustomization.parse(yamlDocs('deploy/kubernetes/kustomization.yaml')[0]?.value);
    expect([...k.resources].sort()).toEqual([...applied].sort());
    expect(k.resources).not.toContain(EXAMPLE_SECRET);
    expect(kubeFiles().filter((f) => !/\.ya?ml$/.test(f))).toEqual([]);
    for (const d of deployments) expect(k.images.map((i) => i.name)).toContain(containerOf(d).image);
  });
});
