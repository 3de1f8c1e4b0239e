import { z } from 'zod';
import { type ArcRoutingControlClient, type ControlReading, ROUTING_CONTROL_ARN, type RoutingControlState, SAFETY_RULE_ARN } from '../../targets/arc-routing-control.ts';
import { defineStep, type PlanLine, PermanentStepError, type StepOutputs } from '../types.ts';

/** Enough for a control panel's controls; AWS refuses a batch too large with ServiceLimitExceeded. */
const MAX_CONTROLS = 20;

const EXAMPLE = 'arn:aws:route53-recovery-control::111122223333:controlpanel/abcdef0123456789abcdef0123456789/routingcontrol/0123456789abcdef=On';

export interface ControlEntry {
  arn: string;
  state: RoutingControlState;
}

/** Items of a list given as one text (commas or spaces between them, what `/dr` parameters are) or as a YAML list. */
function itemsOf(v: unknown): unknown {
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  return v;
}

/**
 * `<routing control ARN>=On|Off` items, each control once. The state's case
 * is forgiven (`on`), anything else is refused with how to write it.
 */
export const controlsParam = z.preprocess(
  itemsOf,
  z
    .array(z.string(), { error: `must be routing controls with their states, like ${EXAMPLE}` })
    .max(MAX_CONTROLS, `at most ${String(MAX_CONTROLS)} routing controls in one change`)
    .transform((items, ctx): ControlEntry[] => {
      const entries: ControlEntry[] = [];
      for (const item of items) {
        const at = item.lastIndexOf('=');
        const arn = at === -1 ? item : item.slice(0, at);
        const state = at === -1 ? '' : item.slice(at + 1).toLowerCase();
        if (!ROUTING_CONTROL_ARN.test(arn)) {
          ctx.addIssue({ code: 'custom', message: `\`${item.slice(0, 120)}\` is not a routing control ARN with its state: write <ARN>=On or <ARN>=Off, like ${EXAMPLE}` });
          return z.NEVER;
        }
        if (state !== 'on' && state !== 'off') {
          ctx.addIssue({ code: 'custom', message: `${arn} needs the state to set: append =On or =Off` });
          return z.NEVER;
        }
        if (entries.some((e) => e.arn === arn)) {
          ctx.addIssue({ code: 'custom', message: `${arn} is given twice: name each routing control once` });
          return z.NEVER;
        }
        entries.push({ arn, state: state === 'on' ? 'On' : 'Off' });
      }
      return entries;
    }),
);

export const safetyRulesParam = z.preprocess(
  itemsOf,
  z.array(z.string().regex(SAFETY_RULE_ARN, 'must be a safety rule ARN, like arn:aws:route53-recovery-control::111122223333:controlpanel/abcdef0123456789abcdef0123456789/safetyrule/0123456789abcdef')).max(MAX_CONTROLS),
);

const params = z
  .object({
    /** `<ARN>=On|Off` items; empty: this installation sets no routing controls, and the step does nothing. */
    controls: controlsParam.default([]),
    /** Safety rules the change may break (break glass); none unless given. */
    safetyRulesToOverride: safetyRulesParam.default([]),
  })
  .strict();

const statesText = (entries: readonly ControlEntry[]) => entries.map((e) => `${e.arn}=${e.state}`).join(',');
const named = (arn: string, reading: ControlReading | undefined) => (reading?.name ? `${reading.name} (${arn})` : arn);

/** The current state of each control, read through the first endpoint that answers. */
async function readStates(arc: ArcRoutingControlClient, entries: readonly ControlEntry[], signal: AbortSignal) {
  return arc.getStates(
    entries.map((e) => e.arn),
    signal,
  );
}

/**
 * `arc.set-routing-controls`: sets ARC routing controls (Route 53
 * Application Recovery Controller) On or Off, which moves traffic where the
 * health checks of Route 53's records follow them. The cluster is the
 * target's `arcClusterEndpoints`; each call tries its endpoints in turn.
 * Plan: reads each control's state (GetRoutingControlState) and says what
 * changes. Run: one UpdateRoutingControlStates call with every control, so
 * the cluster's safety rules judge the change as a whole (a rule's refusal
 * fails the step, naming the rule; nothing is changed then), in a checkpoint;
 * controls already as asked are not sent again. Then every control is read
 * back and must hold the asked state. Empty `controls`: nothing is done.
 */
export function setRoutingControlsStep() {
  return defineStep({
    id: 'arc.set-routing-controls',
    summary: 'Set ARC routing controls On or Off (moves traffic)',
    params,
    outputs: ['endpoint', 'states', 'changed'],
    async plan(ctx, p) {
      if (p.controls.length === 0) {
        return [{ action: 'check', resource: 'ARC routing controls', detail: 'routing controls not set (none given): this step changes nothing' }];
      }
      const arc = ctx.aws.arcRoutingControl();
      const { states, endpoint } = await readStates(arc, p.controls, ctx.signal);
      const lines: PlanLine[] = p.controls.map((e) => {
        const now = states.get(e.arn);
        return now?.state === e.state
          ? { action: 'check', resource: `routing control ${named(e.arn, now)}`, detail: `already ${e.state}: nothing to change` }
          : { action: 'change', resource: `routing control ${named(e.arn, now)}`, detail: `${now?.state ?? 'unknown'} → ${e.state}: traffic ${e.state === 'On' ? 'flows to' : 'stops flowing to'} its cell` };
      });
      const changing = lines.filter((l) => l.action === 'change').length;
      lines.push({
        action: 'check',
        resource: 'ARC cluster',
        detail:
          `states read through its ${endpoint.region} endpoint; ` +
          (changing > 0 ? `all ${String(p.controls.length)} controls are set in one call, which the cluster's safety rules judge whole, then read back` : 'nothing is sent, the states are read back'),
      });
      if (p.safetyRulesToOverride.length > 0) {
        lines.push({ action: 'change', resource: 'ARC safety rules', detail: `OVERRIDES ${p.safetyRulesToOverride.join(', ')} for this change (break glass): those rules will not stop it` });
      }
      return lines;
    },
    async run(ctx, p): Promise<StepOutputs> {
      if (p.controls.length === 0) return { endpoint: '', states: '', changed: 0 };
      const arc = ctx.aws.arcRoutingControl();
      const done = await ctx.once('update-routing-control-states', async () => {
        const before = await readStates(arc, p.controls, ctx.signal);
        const changing = p.controls.filter((e) => before.states.get(e.arn)?.state !== e.state);
        if (changing.length === 0) return { endpoint: before.endpoint.region, changed: 0 };
        ctx.progress(`setting ${String(p.controls.length)} routing controls (${String(changing.length)} change)`);
        try {
          const { endpoint } = await arc.updateStates(p.controls, p.safetyRulesToOverride, ctx.signal);
          return { endpoint: endpoint.region, changed: changing.length };
        } catch (err) {
          const rules = (err as { safetyRules?: readonly string[] }).safetyRules ?? [];
          if (rules.length === 0) throw err;
          throw new PermanentStepError(
            `routing controls not set: ${err instanceof Error ? err.message : String(err)}. Ask for states the rule allows, or, to break glass, run again with safetyRulesToOverride=${rules.join(',')}`,
            { cause: err },
          );
        }
      });
      const after = await readStates(arc, p.controls, ctx.signal);
      const wrong = p.controls.filter((e) => after.states.get(e.arn)?.state !== e.state);
      if (wrong.length > 0) {
        const told = wrong.map((e) => `${named(e.arn, after.states.get(e.arn))} is ${after.states.get(e.arn)?.state ?? 'unknown'}, not ${e.state}`).join('; ');
        throw new PermanentStepError(`routing controls read back through ${after.endpoint.region} do not hold the states set: ${told}. Something else changed them since; read the control panel and set them again`);
      }
      return { endpoint: done.endpoint, states: statesText(p.controls), changed: done.changed };
    },
  });
}
