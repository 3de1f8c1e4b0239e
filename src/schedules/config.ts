import { isUserError, UserError } from '../errors.ts';
import { bindParams } from '../runbooks/params.ts';
import type { RunbookSet } from '../runbooks/load.ts';
import { unknownRunbookMessage } from '../runs/service.ts';
import { refuseChangingInConfig } from './access.ts';
import { type ConfigSchedule, READINESS_SCHEDULE_ID } from './model.ts';

/**
 * Checks the configuration's schedules against the runbooks at start, before
 * anything connects, as a fire would: the runbook exists, is read-only (a
 * changing runbook's schedule needs people's approvals, so it is added from
 * Slack or the CLI, never configured), and its parameters bind (the run request's own validator). The default
 * readiness schedule is left out, not refused, when its runbook is not in the
 * runbooks directory (a directory of one's own runbooks).
 */
export function checkConfigSchedules(specs: readonly ConfigSchedule[], runbooks: RunbookSet, targets: readonly string[], now = Date.now()): { valid: ConfigSchedule[]; problems: string[]; skipped: string[] } {
  const valid: ConfigSchedule[] = [];
  const problems: string[] = [];
  const skipped: string[] = [];
  for (const spec of specs) {
    const readiness = spec.id === READINESS_SCHEDULE_ID;
    const runbook = runbooks.get(spec.runbookId);
    if (readiness && !runbook) {
      skipped.push(`${spec.id}: there is no runbook ${spec.runbookId} in the runbooks directory`);
      continue;
    }
    try {
      if (!runbook) throw new UserError(unknownRunbookMessage(spec.runbookId, [...runbooks.keys()]));
      refuseChangingInConfig(runbook);
      bindParams(runbook, spec.params, now, targets);
      valid.push(spec);
    } catch (err) {
      if (!isUserError(err)) throw err;
      problems.push(`${readiness ? 'readiness.every (DR_READINESS_EVERY)' : `schedules: ${spec.id}`}: ${err.message}`);
    }
  }
  return { valid, problems, skipped };
}
