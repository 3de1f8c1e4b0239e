/**
 * `npm run dr -- report <run> [--json]`: a changing run's recovery report
 * (docs/reports.md), as Markdown or, with --json, as the JSON an audit
 * tool reads. Reads only: needs no key. The terminal is no conversation:
 * runs of private channels are reported too.
 */
import type { IncidentOf } from '../reports/follower.ts';
import { renderRecoveryMarkdown } from '../reports/markdown.ts';
import { buildRecoveryReport, isReportable } from '../reports/recovery.ts';
import type { ScenarioTargets } from '../incidents/scenarios.ts';
import { UserError } from '../errors.ts';
import type { RunService } from '../runs/service.ts';
import type { RunStore } from '../runs/store.ts';

export interface ReportCliDeps {
  service: Pick<RunService, 'mustGet'>;
  store: Pick<RunStore, 'audit'>;
  objectives: ScenarioTargets;
  incident: IncidentOf;
  out: (line: string) => void;
  now: () => number;
}

export async function reportCommand(words: readonly string[], json: boolean, deps: ReportCliDeps, usageError: (text: string) => Error): Promise<number> {
  const [runId, ...extra] = words;
  if (runId === undefined) throw usageError('report needs a run id.');
  if (extra.length) throw usageError(`report takes one run id; unexpected: ${extra.join(' ').slice(0, 80)}`);
  const run = await deps.service.mustGet(runId);
  if (!isReportable(run)) {
    const why = run.dryRun
      ? 'was a dry run: it changed nothing'
      : run.policy.required === 0
        ? 'needed no approval: it is read-only'
        : run.startedAt === undefined
          ? `is ${run.state} and never started: nothing changed`
          : `is still ${run.state}: its report is made when it ends`;
    throw new UserError(`Run ${run.id} ${why}, so it has no recovery report.`);
  }
  const incident = run.origin.incidentId ? await deps.incident(run.origin.incidentId) : undefined;
  const report = buildRecoveryReport(run, await deps.store.audit(run.id), { objectives: deps.objectives, ...(incident ? { incident } : {}), now: deps.now() });
  deps.out(json ? JSON.stringify(report, null, 2) : renderRecoveryMarkdown(report).trimEnd());
  return 0;
}
