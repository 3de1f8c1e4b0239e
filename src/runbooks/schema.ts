import { z } from 'zod';
import { SCENARIO_IDS } from '../incidents/scenarios.ts';
import { parseDuration } from '../util/duration.ts';

/**
 * The runbook file format (`commands/<id>.yaml`). Strict: a misspelt key is an
 * error at load, not a silently ignored setting during an outage.
 */

const duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, 'must be a duration like 30s, 15m or 2h')
  .transform((s) => parseDuration(s) ?? 0);

const name = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and -, starting with a letter');
const paramName = z.string().regex(/^[a-z][a-zA-Z0-9_]{0,40}$/, 'must be a letter followed by letters, digits or _');
const scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * `target`: the name of a configured target (docs/targets.md); the request is refused with the list otherwise.
 * `security-groups`: VPC security group ids separated by commas or spaces, or `source` (the source's own),
 * checked against the one definition the steps use (src/targets/aws-ids.ts).
 */
export const PARAM_TYPES = ['string', 'integer', 'number', 'boolean', 'time', 'duration', 'enum', 'target', 'security-groups'] as const;

export const ParamSpecSchema = z
  .object({
    type: z.enum(PARAM_TYPES),
    description: z.string().max(300).optional(),
    /**
     * A parameter with no default must be given. A string or target parameter
     * whose default is '' may be left out (it is then empty: for `target:` and
     * `cluster:`, "not named here").
     */
    default: scalar.optional(),
    /** string: a regular expression the whole value must match. */
    pattern: z.string().optional(),
    maxLength: z.number().int().min(1).max(10_000).optional(),
    /** integer/number: inclusive bounds. */
    min: z.number().optional(),
    max: z.number().optional(),
    /** enum: the allowed values. */
    values: z.array(z.string()).min(1).optional(),
    /** time: also accept the word `latest`. */
    allowLatest: z.boolean().optional(),
  })
  .strict();
export type ParamSpec = z.infer<typeof ParamSpecSchema>;

export const ApprovalSchema = z
  .object({
    /** Approvals needed before the run starts; 0 = runs without approval (read-only procedures). */
    required: z.number().int().min(0).max(5).default(1),
    /** Who may approve: Slack user ids and/or user-group handles. Both empty = the approvers role (DR_APPROVERS; nobody until it is set). */
    users: z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user id like U012ABCDEF')).default([]),
    groups: z.array(z.string().regex(/^[a-z0-9._-]+$/, 'must be a user-group handle like sre-oncall')).default([]),
    /** Two-person rule: the requester may not approve their own run unless this is true. */
    allowSelfApproval: z.boolean().default(false),
    /** How long the request stays open. */
    expiresIn: duration.prefault('15m'),
  })
  .strict();

export const StepSpecSchema = z
  .object({
    id: name,
    use: z.string().min(1),
    /** Human name for the step in plans and progress; defaults to the step's summary. */
    name: z.string().max(150).optional(),
    with: z.record(z.string(), z.unknown()).default({}),
    /** Where the step acts: a configured target's name, or `${{ params.<name> }}` of a `target` parameter; the default target if omitted. */
    target: z.string().min(1).max(100).optional(),
    /** An EKS cluster named at run time (in the target's region and account), or `${{ params.<name> }}`: the step reaches it instead of the target's own. */
    cluster: z.string().min(1).max(120).optional(),
    timeout: duration.prefault('10m'),
    /** Retries of transient errors (throttling, 5xx, timeouts) before the step fails. */
    retries: z.number().int().min(0).max(20).default(3),
  })
  .strict();
export type StepSpec = z.infer<typeof StepSpecSchema>;

/**
 * How urgent a runbook's runs are: a free worker takes urgent runs first, then
 * normal, then background (docs/engine.md, "Priorities"). Recovery (rollback,
 * restores, failover) is urgent; drills and readiness checks are background.
 */
export const RUN_PRIORITIES = ['urgent', 'normal', 'background'] as const;
export type RunPriority = (typeof RUN_PRIORITIES)[number];

const componentStatus = z.enum(['operational', 'degraded_performance', 'partial_outage', 'major_outage']);

export const RunbookSchema = z
  .object({
    id: name,
    title: z.string().min(1).max(150),
    description: z.string().max(3000).optional(),
    /** The DR plan scenario this procedure serves; omit for procedures that serve none (readiness checks). */
    scenario: z.enum(SCENARIO_IDS).optional(),
    /**
     * A drill or restore test: each run that ends is scored against its
     * scenario's RTO and RPO and kept in the drill record (docs/drills.md).
     * Needs `scenario:`, the objectives it is scored against.
     */
    drill: z.boolean().optional(),
    /** urgent | normal | background; normal when omitted (a runbook nobody ranked neither jumps the queue nor waits behind drills). */
    priority: z.enum(RUN_PRIORITIES).default('normal'),
    params: z.record(paramName, ParamSpecSchema).default({}),
    approval: ApprovalSchema.prefault({}),
    /** Overall deadline of a run. */
    timeout: duration.prefault('2h'),
    /** Public-safe text for the incident and status page while this runbook runs. */
    status: z
      .object({
        running: z.string().max(500).optional(),
        succeeded: z.string().max(500).optional(),
        failed: z.string().max(500).optional(),
        /** Status page component status for the incident's affected services at each point. */
        components: z.object({ running: componentStatus.optional(), succeeded: componentStatus.optional(), failed: componentStatus.optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    /** The target of every step that names none (a name or `${{ params.<name> }}`); the default target otherwise. */
    target: z.string().min(1).max(100).optional(),
    /** The EKS cluster named at run time for every step that names none (`${{ params.<name> }}`; an empty value: the target's own). */
    cluster: z.string().min(1).max(120).optional(),
    steps: z.array(StepSpecSchema).min(1, 'a runbook needs at least one step'),
    /**
     * Cleanup steps that run after the main steps however they end: succeeded,
     * failed, cancelled or timed out (a drill deletes its namespace). They may
     * use params, run and outputs of earlier `always` steps only: a main step
     * may not have run.
     */
    always: z.array(StepSpecSchema).max(10).default([]),
  })
  .strict()
  .refine((r) => !r.drill || r.scenario !== undefined, {
    path: ['drill'],
    message: `a drill is scored against its scenario's RTO and RPO: add \`scenario:\` (one of ${SCENARIO_IDS.join(', ')}), or remove \`drill: true\``,
  });

export type Runbook = z.infer<typeof RunbookSchema>;
export type ApprovalPolicy = Runbook['approval'];
