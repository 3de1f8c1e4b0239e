import { SCENARIO_IDS, type ScenarioId } from '../incidents/scenarios.ts';
import { parseDuration } from '../util/duration.ts';
import { parseMembers, type RoleMembers } from '../access/roles.ts';
import { type CliOperator, parseOperators } from '../cli/operators.ts';
import { allowEntryProblem } from '../steps/builtin/addresses.ts';
import { NAMESPACE_PATTERN, OBJECT_PATTERN, parseAllowList } from '../steps/kube/scope.ts';
import { AWS_REGION, EKS_CLUSTER_NAME, TARGET_NAME, TargetsSettingSchema } from '../targets/config.ts';
import { hasLegacyDefault } from '../targets/legacy-default.ts';
import { expiresInMinutes, MAX_EXPIRES_IN_MINUTES } from '../targets/arc-zonal-shift.ts';
import { ConfigSchedulesSettingSchema, ReadinessEverySchema } from '../schedules/model.ts';
import { z } from 'zod';

/**
 * Every setting the bot reads, with the environment variable that sets it.
 * `key` is the setting's dotted path in the typed config and in the optional
 * YAML config file. Secrets come from the environment only: a file is easy to
 * commit or print by mistake.
 */
export interface SettingSource {
  readonly key: string;
  readonly env: string;
  readonly secret?: boolean;
}

export const SETTINGS = [
  { key: 'port', env: 'PORT' },
  { key: 'metricsPort', env: 'METRICS_PORT' },
  { key: 'redisUrl', env: 'REDIS_URL' },
  { key: 'redisCluster', env: 'REDIS_CLUSTER' },
  { key: 'queuePrefix', env: 'QUEUE_PREFIX' },
  { key: 'logLevel', env: 'LOG_LEVEL' },
  { key: 'shutdownTimeoutMs', env: 'SHUTDOWN_TIMEOUT_MS' },
  { key: 'slack.botToken', env: 'SLACK_BOT_TOKEN', secret: true },
  { key: 'slack.signingSecret', env: 'SLACK_SIGNING_SECRET', secret: true },
  { key: 'slack.appToken', env: 'SLACK_APP_TOKEN', secret: true },
  { key: 'slack.apiUrl', env: 'SLACK_API_URL' },
  { key: 'slack.command', env: 'SLACK_COMMAND' },
  { key: 'slack.runChannels', env: 'SLACK_RUN_CHANNELS' },
  { key: 'slack.responders', env: 'SLACK_INCIDENT_RESPONDERS' },
  { key: 'slack.announceChannel', env: 'SLACK_ANNOUNCE_CHANNEL' },
  { key: 'slack.allowedTeams', env: 'SLACK_ALLOWED_TEAMS' },
  { key: 'roles.requesters', env: 'DR_REQUESTERS' },
  { key: 'roles.approvers', env: 'DR_APPROVERS' },
  { key: 'roles.responders', env: 'DR_RESPONDERS' },
  { key: 'roles.publishers', env: 'DR_PUBLISHERS' },
  { key: 'limits.runsPerUser', env: 'DR_RUNS_PER_USER_PER_MINUTE' },
  { key: 'limits.runsTotal', env: 'DR_RUNS_PER_MINUTE' },
  { key: 'limits.statusPerIncident', env: 'DR_STATUS_CHANGES_PER_10_MINUTES' },
  { key: 'limits.declarationsPerUser', env: 'DR_DECLARATIONS_PER_USER_PER_10_MINUTES' },
  { key: 'limits.declarationsTotal', env: 'DR_DECLARATIONS_PER_10_MINUTES' },
  { key: 'worker.concurrency', env: 'WORKER_CONCURRENCY' },
  { key: 'worker.lockDurationMs', env: 'WORKER_LOCK_DURATION_MS' },
  { key: 'worker.retryBaseMs', env: 'STEP_RETRY_BASE_MS' },
  { key: 'aws.region', env: 'AWS_REGION' },
  { key: 'aws.endpointUrl', env: 'AWS_ENDPOINT_URL' },
  { key: 'aws.rdsEndpointUrl', env: 'AWS_ENDPOINT_URL_RDS' },
  { key: 'aws.rdsEndpointUrls', env: 'AWS_ENDPOINT_URLS_RDS' },
  { key: 'aws.eksEndpointUrl', env: 'AWS_ENDPOINT_URL_EKS' },
  { key: 'aws.stsEndpointUrl', env: 'AWS_ENDPOINT_URL_STS' },
  { key: 'targets', env: 'DR_TARGETS' },
  { key: 'defaultTarget', env: 'DR_DEFAULT_TARGET' },
  { key: 'kubernetes.kubeconfig', env: 'KUBECONFIG' },
  { key: 'kubernetes.eksCluster', env: 'EKS_CLUSTER_NAME' },
  { key: 'kubernetes.veleroNamespace', env: 'VELERO_NAMESPACE' },
  { key: 'kubernetes.allowedNamespaces', env: 'K8S_ALLOWED_NAMESPACES' },
  { key: 'kubernetes.allowedSecrets', env: 'K8S_ALLOWED_SECRETS' },
  { key: 'kubernetes.allowedDeployments', env: 'K8S_ALLOWED_DEPLOYMENTS' },
  { key: 'http.allow', env: 'HTTP_ALLOWED_TARGETS' },
  { key: 'statuspage.apiKey', env: 'STATUSPAGE_API_KEY', secret: true },
  { key: 'statuspage.pageId', env: 'STATUSPAGE_PAGE_ID' },
  { key: 'statuspage.apiUrl', env: 'STATUSPAGE_API_URL' },
  { key: 'statuspage.components', env: 'STATUSPAGE_COMPONENTS' },
  { key: 'statuspage.retryBaseMs', env: 'STATUSPAGE_RETRY_BASE_MS' },
  { key: 'statuspage.warnAfterMs', env: 'STATUSPAGE_WARN_AFTER_MS' },
  { key: 'statuspage.minIntervalMs', env: 'STATUSPAGE_MIN_INTERVAL_MS' },
  { key: 'statuspage.publicSeverities', env: 'STATUSPAGE_PUBLIC_SEVERITIES' },
  { key: 'incidents.clockMs', env: 'INCIDENT_CLOCK_MS' },
  { key: 'incidents.targets', env: 'INCIDENT_TARGETS' },
  { key: 'zonalShifts.keepEveryMs', env: 'ZONAL_SHIFT_KEEP_EVERY_MS' },
  { key: 'zonalShifts.extendBy', env: 'ZONAL_SHIFT_EXTEND_BY' },
  { key: 'readiness.channel', env: 'DR_READINESS_CHANNEL' },
  { key: 'readiness.every', env: 'DR_READINESS_EVERY' },
  { key: 'schedules', env: 'DR_SCHEDULES' },
  { key: 'paths.commandsDir', env: 'COMMANDS_DIR' },
  { key: 'paths.templatesDir', env: 'TEMPLATES_DIR' },
  { key: 'paths.templatesOverrideDir', env: 'TEMPLATES_OVERRIDE_DIR' },
  { key: 'cli.operators', env: 'DR_CLI_OPERATORS' },
] as const satisfies readonly SettingSource[];

export const ROLES = ['all', 'bot', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const optionalText = z.string().trim().min(1).optional();

/** A role's members: `U012ABCDEF,@sre-oncall,*` (or a YAML list of them); empty = nobody. */
function roleMembers(fallback: string) {
  return z
    .union([z.string(), z.array(z.string())])
    .default(fallback)
    .transform((value, ctx): RoleMembers => {
      const parsed = parseMembers(Array.isArray(value) ? value.join(',') : value);
      if ('problem' in parsed) {
        ctx.addIssue({ code: 'custom', message: `${parsed.problem}; write user ids, @user-group handles or *, comma separated` });
        return z.NEVER;
      }
      return parsed;
    });
}

/** A Kubernetes allow-list: `*` (the default), or names and globs, comma separated (or a YAML list). */
function kubeAllowList(entry: RegExp, like: string) {
  return z
    .union([z.string(), z.array(z.string())])
    .default('*')
    .transform((value, ctx): string[] => {
      const parsed = parseAllowList(value, entry);
      if (!parsed) {
        ctx.addIssue({ code: 'custom', message: `must be * or ${like}, comma separated` });
        return z.NEVER;
      }
      return parsed;
    });
}

function wholeNumber(min: number, max: number) {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

export const ConfigSchema = z.object({
  role: z.enum(ROLES),
  port: wholeNumber(0, 65535).default(3000),
  /** Internal port for /metrics, /readyz and /healthz; PORT serves only /slack/events and /healthz. 0 = a free port. */
  metricsPort: wholeNumber(0, 65535).default(9090),
  /** One URL; on a cluster, one or more seed nodes separated by commas (the cluster names the rest). */
  redisUrl: z
    .string()
    .refine((s) => s.split(',').every((u) => z.url({ protocol: /^rediss?$/ }).safeParse(u.trim()).success), 'must be a redis:// or rediss:// URL (on Redis Cluster: one or more, separated by commas)')
    .default('redis://127.0.0.1:6379'),
  /** Talk to Redis Cluster (ElastiCache cluster mode, MemoryDB): QUEUE_PREFIX must then hold a hash tag such as {dr}. */
  redisCluster: z
    .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
    .transform((v) => v === true || v === 'true')
    .default(false),
  /**
   * Prefix of every Redis key, BullMQ's and the stores'. On Redis Cluster it must
   * hold a hash tag (`{dr}`) so every key hashes to one slot: BullMQ's scripts and
   * ours touch several keys at once.
   */
  queuePrefix: z
    .string()
    .regex(/^[\w{}-]{1,64}$/, 'may hold letters, digits, _ - { } only (no ":")')
    .default('dr'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** How long SIGTERM waits for running jobs to reach a safe point before handing them back. */
  shutdownTimeoutMs: wholeNumber(0, 600_000).default(25_000),
  slack: z
    .object({
      botToken: z.string().startsWith('xoxb-', 'must be a bot token starting with xoxb-').optional(),
      signingSecret: z.string().regex(/^[0-9a-f]{16,}$/i, 'must be the hex signing secret from Basic Information').optional(),
      appToken: z.string().startsWith('xapp-', 'must be an app-level token starting with xapp-').optional(),
      apiUrl: httpUrl.default('https://slack.com/api/'),
      command: z.string().regex(/^\/[a-z0-9_-]{1,31}$/, 'must look like /dr').default('/dr'),
      /**
       * Channels where runbooks that change things may be requested: Slack
       * channel ids, comma separated, or `*` for every channel the bot is in.
       * The word `incidents` admits open incidents' channels (declaring an
       * incident grants nothing by itself); the word `dms` admits DMs and group
       * DMs, which no other entry does (the team does not see them). Read-only
       * runbooks run anywhere.
       */
      runChannels: z
        .string()
        .regex(/^(\*|[CG][A-Z0-9]{2,}|incidents|dms)(\s*,\s*(\*|[CG][A-Z0-9]{2,}|incidents|dms))*$/, 'must be * or channel ids like C0123ABCD,C0456EFGH, and optionally the words incidents and dms (e.g. *,dms)')
        .default('*')
        .transform((s) => (s === '*' ? ('*' as const) : s.split(',').map((c) => c.trim()))),
      /** Slack user ids invited to every incident channel. */
      responders: z
        .string()
        .regex(/^([UW][A-Z0-9]{2,}(\s*,\s*[UW][A-Z0-9]{2,})*)?$/, 'must be user ids like U0123ABCD,U0456EFGH')
        .default('')
        .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean)),
      /** A channel that gets a short notice whenever an incident is declared. */
      announceChannel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'must be a channel id like C0123ABCD').optional(),
      /**
       * Teams or Enterprise Grid orgs besides the installing one whose full
       * members may act (e.g. a second workspace of the same company).
       */
      allowedTeams: z
        .string()
        .regex(/^([TE][A-Z0-9]{2,}(\s*,\s*[TE][A-Z0-9]{2,})*)?$/, 'must be team or enterprise ids like T0123ABCD,E0456EFGH')
        .default('')
        .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean)),
    })
    .prefault({}),
  /** Who may do what (docs/security.md). Requesting is open to full members; approving, responding and publishing to nobody until set. */
  roles: z
    .object({
      requesters: roleMembers('*'),
      approvers: roleMembers(''),
      responders: roleMembers(''),
      publishers: roleMembers(''),
    })
    .prefault({}),
  /** Flood limits on what people can ask for (docs/security.md, "Limits"). */
  limits: z
    .object({
      /** Run requests (dry runs included) one person may make per minute. */
      runsPerUser: wholeNumber(1, 100_000).default(5),
      /** Run requests the whole bot takes per minute. */
      runsTotal: wholeNumber(1, 100_000).default(60),
      /** Status changes per incident per 10 minutes; each one posts to the status page. */
      statusPerIncident: wholeNumber(1, 1_000).default(10),
      /**
       * Incidents one person may declare per 10 minutes, and everyone together.
       * Declaring never waits for a permission: these stop a flood (a script, a
       * pasted command), not a real outage (docs/security.md, "Incidents").
       */
      declarationsPerUser: wholeNumber(1, 10_000).default(5),
      declarationsTotal: wholeNumber(1, 100_000).default(30),
    })
    .prefault({}),
  worker: z
    .object({
      concurrency: wholeNumber(1, 256).default(4),
      /**
       * How long a worker's claim on a run lasts without renewal (renewed every
       * half of it). A worker that dies loses its run within about 1.5 times
       * this (expiry, then the stalled check): under 8 s by default. Raise it on CPU-starved
       * nodes, where a live worker may miss renewals (docs/engine.md, "Takeover timing").
       */
      lockDurationMs: wholeNumber(1_000, 600_000).default(5_000),
      /** First delay before retrying a step after a transient error; doubles each time, with jitter. */
      retryBaseMs: wholeNumber(1, 600_000).default(1_000),
    })
    .prefault({}),
  aws: z
    .object({
      region: optionalText,
      endpointUrl: httpUrl.optional(),
      rdsEndpointUrl: httpUrl.optional(),
      /** Per-region RDS endpoints, `us-east-1=http://…,us-west-2=http://…` (or a map): win over rdsEndpointUrl for their region. */
      rdsEndpointUrls: z
        .union([
          z.record(z.string().regex(AWS_REGION, 'must be an AWS region like us-west-2'), httpUrl),
          z
            .string()
            .trim()
            .transform((text, ctx) => {
              const map: Record<string, string> = {};
              for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
                const [region = '', url = ''] = entry.split(/=(.*)/s).map((x) => x.trim());
                if (!AWS_REGION.test(region) || !httpUrl.safeParse(url).success) {
                  ctx.addIssue({ code: 'custom', message: `\`${entry}\` must be region=http(s)-URL, e.g. us-west-2=http://127.0.0.1:4566` });
                  return z.NEVER;
                }
                map[region] = url;
              }
              return map;
            }),
        ])
        .optional(),
      eksEndpointUrl: httpUrl.optional(),
      stsEndpointUrl: httpUrl.optional(),
    })
    .prefault({}),
  /** Named targets (docs/targets.md); the AWS and Kubernetes settings above make the target `default` unless it is named here. */
  targets: TargetsSettingSchema,
  /** The target of steps that name none. */
  defaultTarget: z.string().regex(TARGET_NAME, 'must be a target name').default('default'),
  kubernetes: z
    .object({
      kubeconfig: optionalText,
      /** Reach this EKS cluster with a token from STS (no kubeconfig, no aws CLI); wins over KUBECONFIG. */
      eksCluster: z.string().regex(EKS_CLUSTER_NAME, 'must be an EKS cluster name').optional(),
      /** Where Velero's Backup and Restore objects live (for listings; runbooks name it per step). */
      veleroNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a namespace name').default('velero'),
      /** Namespaces Kubernetes steps may touch; `*` = all but the system ones, which only an exact name allows (src/steps/kube/scope.ts). */
      allowedNamespaces: kubeAllowList(NAMESPACE_PATTERN, 'namespace names or globs like production,team-*'),
      /** Secrets `k8s.update-secret` may change: names, globs or namespace/name; `*` = any in an allowed namespace. */
      allowedSecrets: kubeAllowList(OBJECT_PATTERN, 'Secret names, globs or namespace/name like database-credentials,production/app-*'),
      /** Deployments the rollout steps may touch (each one `*` finds, too); `*` = any in an allowed namespace. */
      allowedDeployments: kubeAllowList(OBJECT_PATTERN, 'deployment names, globs or namespace/name like api-gateway,production/*'),
    })
    .prefault({}),
  statuspage: z
    .object({
      apiKey: optionalText,
      pageId: optionalText,
      apiUrl: httpUrl.default('https://api.statuspage.io/v1'),
      /** First retry delay of a failed delivery; doubles each time. */
      retryBaseMs: wholeNumber(10, 600_000).default(2_000),
      /** Warn in the incident channel when Statuspage has refused updates this long. */
      warnAfterMs: wholeNumber(0, 3_600_000).default(180_000),
      /** At most one write per incident this often: each write notifies subscribers; a burst goes out as its newest state. */
      minIntervalMs: wholeNumber(0, 3_600_000).default(30_000),
      /** Our service names → Statuspage component ids: `api:cmp123,db:cmp456`. */
      components: z
        .string()
        .regex(/^([\w.-]+:[\w-]+(\s*,\s*[\w.-]+:[\w-]+)*)?$/, 'must be service:componentId pairs like api:8kbf7d35c070,db:vtf8pq3v0ks6')
        .default('')
        .transform((s) => Object.fromEntries(s.split(',').filter(Boolean).map((pair) => pair.trim().split(':') as [string, string]))),
      /** Incidents of these severities go to the public page; others are internal (and `--private` always is). */
      publicSeverities: z
        .string()
        .regex(/^((sev[123])(\s*,\s*sev[123])*)?$/, 'must be severities like sev1,sev2')
        .default('sev1,sev2')
        .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
    })
    .prefault({}),
  incidents: z
    .object({
      /** How often open incidents' summaries are redrawn (time since start, RTO remaining). */
      clockMs: wholeNumber(100, 3_600_000).default(60_000),
      /** The team's own RTO/RPO per scenario, over the DR plan's: `data-corruption=90m/30m,region-outage=2h/5m`. */
      targets: z
        .string()
        .default('')
        .transform((text, ctx) => {
          const overrides: Partial<Record<ScenarioId, { rtoMs: number; rpoMs: number }>> = {};
          for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
            const m = /^([a-z-]+)=([^/]+)\/(.+)$/.exec(pair);
            const id = m?.[1] as ScenarioId | undefined;
            const rtoMs = m?.[2] === undefined ? undefined : parseDuration(m[2]);
            const rpoMs = m?.[3] === '0' ? 0 : m?.[3] === undefined ? undefined : parseDuration(m[3]);
            if (!id || !SCENARIO_IDS.includes(id) || !rtoMs || rpoMs === undefined) {
              ctx.addIssue({ code: 'custom', message: `\`${pair}\` must be <scenario>=<rto>/<rpo> like data-corruption=90m/30m; scenarios: ${SCENARIO_IDS.join(', ')}` });
              return z.NEVER;
            }
            overrides[id] = { rtoMs, rpoMs };
          }
          return overrides;
        }),
    })
    .prefault({}),
  /** The zonal shifts the bot started, kept while needed (docs/scenarios.md, "Single AZ failure"). */
  zonalShifts: z
    .object({
      /** How often the keeper looks at them. */
      keepEveryMs: wholeNumber(100, 3_600_000).default(300_000),
      /** Each extension keeps a shift this long from then (`expiresIn`: 30m, 2h; at most 72h); due once less than half of it is left. */
      extendBy: z
        .string()
        .default('2h')
        .refine((v) => (expiresInMinutes(v) ?? Number.POSITIVE_INFINITY) <= MAX_EXPIRES_IN_MINUTES, 'must be a whole number of minutes or hours, like 30m or 2h, at most 72h'),
    })
    .prefault({}),
  readiness: z
    .object({
      /** The channel told when a readiness item turns red or green again (docs/readiness.md); unset: nothing is posted. */
      channel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'must be a channel id like C0123ABCD').optional(),
      /** How often the default schedule runs readiness-check (docs/schedules.md): 30m unless set; `off` disables it. */
      every: ReadinessEverySchema,
    })
    .prefault({}),
  /** Schedules of read-only runbooks, kept as written here (docs/schedules.md): a YAML list of id, runbook, every or cron, params, channel. */
  schedules: ConfigSchedulesSettingSchema,
  /** The terminal front end (docs/security.md, "The CLI"). */
  cli: z
    .object({
      /** Operators and the sha256 of their keys: `alice:U0ALICE001:9f86…,bob:U0BOB0001:2c26…`. Not secret: hashes only. */
      operators: z
        .union([z.string(), z.array(z.string())])
        .default('')
        .transform((value, ctx): CliOperator[] => {
          const parsed = parseOperators(value);
          if ('problems' in parsed) {
            for (const message of parsed.problems) ctx.addIssue({ code: 'custom', message });
            return z.NEVER;
          }
          return parsed;
        }),
    })
    .prefault({}),
  http: z
    .object({
      /**
       * What `http.check` and `http.request` may reach although it is private,
       * loopback or link-local: CIDRs or exact host names, comma separated (or a
       * YAML list). Metadata addresses need an entry of exactly their address;
       * the bot's own ports are never reachable (src/steps/builtin/outbound.ts).
       */
      allow: z
        .union([z.string(), z.array(z.string())])
        .default('')
        .transform((value, ctx): string[] => {
          const entries = (Array.isArray(value) ? value : value.split(',')).map((e) => e.trim()).filter(Boolean);
          const problems = entries.map(allowEntryProblem).filter((m): m is string => m !== undefined);
          for (const message of problems) ctx.addIssue({ code: 'custom', message });
          return problems.length ? z.NEVER : entries;
        }),
    })
    .prefault({}),
  paths: z
    .object({
      commandsDir: z.string().min(1).default('commands'),
      templatesDir: z.string().min(1).default('templates'),
      templatesOverrideDir: z.string().min(1).optional(),
    })
    .prefault({}),
}).superRefine((config, ctx) => {
  const names = [...(hasLegacyDefault(config) ? ['default'] : []), ...Object.keys(config.targets)];
  // A target with a bad name is reported as such; the default is checked against good names only.
  if (names.every((n) => TARGET_NAME.test(n)) && !names.includes(config.defaultTarget)) {
    ctx.addIssue({ code: 'custom', path: ['defaultTarget'], message: `names no configured target: set it to one of ${names.join(', ')}` });
  }
  if (config.redisCluster && !hashTagOf(config.queuePrefix)) {
    ctx.addIssue({ code: 'custom', path: ['queuePrefix'], message: `must hold a hash tag on Redis Cluster (REDIS_CLUSTER=true), such as {${config.queuePrefix.replace(/[{}]/g, '') || 'dr'}}: every key of the bot must hash to one slot. Changing the prefix of a running installation orphans its queues: drain the runs first (docs/deploy.md, "Redis")` });
  }
  const urls = config.redisUrl.split(',');
  if (urls.length > 1 && !config.redisCluster) {
    ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: 'lists several URLs, which only Redis Cluster takes (seed nodes): give one URL, or set REDIS_CLUSTER=true' });
  }
  if (config.redisCluster && urls.some((u) => !/^\/?0?$/.test(new URL(u.trim()).pathname))) {
    ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: 'names a database number, which Redis Cluster does not have (only database 0): drop the /<n> from the URL' });
  }
  // A shift is due for extension with half of extendBy left: a look must come before that half runs out.
  const extendByMs = (expiresInMinutes(config.zonalShifts.extendBy) ?? 0) * 60_000;
  if (extendByMs > 0 && config.zonalShifts.keepEveryMs * 3 > extendByMs) {
    ctx.addIssue({ code: 'custom', path: ['zonalShifts', 'keepEveryMs'], message: `must be at most a third of ZONAL_SHIFT_EXTEND_BY (${config.zonalShifts.extendBy}), so a shift due for extension is looked at before it expires` });
  }
  // One port cannot serve both; 0 picks a free port for each, so it never clashes.
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    ctx.addIssue({ code: 'custom', path: ['metricsPort'], message: `must differ from PORT (port), both are ${config.port}: /metrics and /readyz are served on their own port` });
  }
});

export type Config = z.infer<typeof ConfigSchema>;

/**
 * The hash tag Redis Cluster hashes a key by: what lies between the first `{`
 * and the next `}`, when that is not empty (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** Slack connection mode, derived from which credentials are present. */
export function slackMode(config: Config): 'socket' | 'http' {
  return config.slack.appToken ? 'socket' : 'http';
}

/** Every secret value in the config, so the logger can scrub them from any line. */
export function secretValues(config: Config): string[] {
  return [config.slack.botToken, config.slack.signingSecret, config.slack.appToken, config.statuspage.apiKey].filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
}
