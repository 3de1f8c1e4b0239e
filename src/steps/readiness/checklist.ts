import { z } from 'zod';
import { defineStep, type PlanLine, type StepContext } from '../types.ts';
import { AuroraChecksSchema, drAuroraItems, primaryAuroraItems } from './aurora.ts';
import { DnsChecksSchema, dnsItems } from './dns.ts';
import { DrillChecksSchema, drillItems } from './drills.ts';
import { DrRegionChecksSchema, drRegionItems, roleItem } from './dr-region.ts';
import { drImageItems, ImageChecksSchema, primaryImageItems, type RunningImage } from './images.ts';
import { fail, type ItemSpec, measured, pass, warn } from './items.ts';
import type { ItemResult, Readings, TargetReport } from './report.ts';
import { SecretChecksSchema, secretItems } from './secrets.ts';
import { StateBucketChecksSchema, stateBucketItems } from './state-bucket.ts';
import { drVeleroItems, primaryVeleroItems, VeleroChecksSchema } from './velero.ts';

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * `readiness.checklist`: the DR plan's "Before Disaster" checklist on one
 * target, each item pass / warn / fail / unknown with what was measured, the
 * objective and why (docs/readiness.md). `role: primary` checks production
 * (backups, database, image replication, secrets, Terraform state, DNS);
 * `role: dr` checks the DR region (its Velero sees production's backups, the
 * images exist there, the DR database and its lag, the EKS cluster). Both
 * check the bot's own role there. Every API is read in parallel, each with a
 * deadline: one that fails or does not answer makes its items unknown, never
 * a pass. Reads only; the step fails only when its parameters are wrong.
 */
export function readinessChecklistStep() {
  return defineStep({
    id: 'readiness.checklist',
    summary: "Check the DR plan's Before-Disaster list on a target (read-only)",
    params: z.object({
      role: z.enum(['primary', 'dr']),
      /** The DR region, where replicas must be (primary); DR-PLAN.md, "DR Architecture": us-west-2. */
      drRegion: z.string().regex(REGION).default('us-west-2'),
      velero: VeleroChecksSchema.prefault({}),
      aurora: AuroraChecksSchema.prefault({}),
      images: ImageChecksSchema.prefault({}),
      secrets: SecretChecksSchema.prefault({}),
      terraformState: StateBucketChecksSchema.prefault({}),
      dns: DnsChecksSchema.prefault({}),
      drCluster: DrRegionChecksSchema.prefault({}),
      drills: DrillChecksSchema.prefault({}),
      /** Whether the bot's own runbooks must each plan on their defaults (primary). */
      planRunbooks: z.boolean().default(true),
      /** How long one API may take to answer before its items are unknown. */
      apiTimeoutSeconds: z.number().int().min(1).max(120).default(10),
    }),
    outputs: ['report', 'backups', 'images', 'passed', 'failed'],
    plan: (ctx, p) => Promise.resolve(planLines(ctx.target.name, p.role)),
    async run(ctx, p) {
      const report = await checkTarget(ctx, p);
      const count = (status: ItemResult['status']) => report.items.filter((i) => i.status === status).length;
      for (const item of report.items.filter((i) => i.status !== 'pass')) ctx.progress(`${item.status}: ${item.title}: ${item.value}`);
      return { report: JSON.stringify(report.report), backups: report.backups.join(','), images: JSON.stringify(report.images), passed: count('pass'), failed: count('fail') };
    },
  });
}

type ChecklistParams = z.infer<ReturnType<typeof readinessChecklistStep>['params']>;

function planLines(target: string, role: 'primary' | 'dr'): PlanLine[] {
  const areas =
    role === 'primary'
      ? 'Velero schedules and backups, Aurora backups and restorable window, ECR replication, secret replicas, Terraform state versioning, DNS failover records, the bot\'s role and runbooks'
      : "what the DR cluster's Velero sees, the images in the DR region, the DR database and its replication lag, the DR EKS cluster, the bot's role";
  return [{ action: 'check', resource: `readiness on ${target}`, detail: `read ${areas} (nothing is changed)` }];
}

async function checkTarget(ctx: StepContext, p: ChecklistParams): Promise<{ report: TargetReport; items: ItemResult[]; backups: string[]; images: RunningImage[] }> {
  const now = Date.now();
  const timeoutMs = p.apiTimeoutSeconds * 1_000;
  const readings: Readings = {};
  const namespace = p.velero.namespace ?? ctx.target.veleroNamespace;
  const kube = () => ctx.kube();
  let backups: string[] = [];
  let images: RunningImage[] = [];
  const parts: Promise<ItemResult[]>[] = [roleItem(ctx.aws, ctx.target, timeoutMs)];
  if (p.role === 'primary') {
    parts.push(
      primaryVeleroItems(kube, namespace, p.velero, now, timeoutMs, readings).then((r) => {
        backups = r.backups;
        return r.items;
      }),
      primaryAuroraItems(ctx.aws, p.aurora, now, timeoutMs, readings),
      primaryImageItems(kube, ctx.aws, p.images, p.drRegion, timeoutMs).then((r) => {
        images = r.images;
        return r.items;
      }),
      secretItems(ctx.aws, p.secrets, p.drRegion, timeoutMs),
      stateBucketItems(ctx.aws, p.terraformState, timeoutMs),
      dnsItems(ctx.aws, p.dns, timeoutMs),
      ...(p.planRunbooks ? [runbookItems(ctx, timeoutMs * 3)] : []),
      drillItems(ctx, p.drills, now, timeoutMs),
    );
  } else {
    parts.push(
      drVeleroItems(kube, namespace, p.velero, now, timeoutMs, readings),
      drImageItems(ctx.aws, p.images, timeoutMs),
      drAuroraItems(ctx.aws, p.aurora, now, timeoutMs, readings),
      drRegionItems(ctx.aws, kube, ctx.target, namespace, p.drCluster, timeoutMs),
    );
  }
  const items = (await Promise.all(parts)).flat();
  return { report: { target: ctx.target.name, role: p.role, checkedAt: now, items, readings }, items, backups, images };
}

/** The bot itself: every runbook it holds plans on its defaults (nothing is stored or changed). */
async function runbookItems(ctx: StepContext, timeoutMs: number): Promise<ItemResult[]> {
  const spec: ItemSpec = { id: 'bot.runbooks-plan', area: 'bot', title: "Every runbook plans on its defaults", objective: 'each runbook plans' };
  const planRunbooks = ctx.planRunbooks;
  if (!planRunbooks) return [warn(spec, 'not checked', 'This worker cannot plan runbooks here.', 'Run the check on a bot worker (npm start or --role worker).')];
  return measured([spec], timeoutMs, async () => {
    const checks = await planRunbooks();
    const failed = checks.filter((c) => c.outcome === 'failed');
    const planned = checks.filter((c) => c.outcome === 'planned').length;
    const skipped = checks.filter((c) => c.outcome === 'needs-parameters').map((c) => c.runbookId);
    const value = `${planned} of ${checks.length} planned${skipped.length ? `; ${skipped.length} need parameters (${skipped.join(', ')})` : ''}`;
    if (failed.length) {
      return [fail(spec, value, `Cannot be planned: ${failed.map((c) => `${c.runbookId} (${c.detail ?? 'no reason'})`).join('; ')}.`, 'Fix what the plan says (a target, a missing resource, the bot\'s permissions) before a disaster needs the runbook.')];
    }
    return [pass(spec, value, 'A disaster would find them ready to plan.')];
  });
}
