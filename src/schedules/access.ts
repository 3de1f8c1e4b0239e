/**
 * Who may schedule what, and who may change a schedule (docs/schedules.md,
 * "Who may"). Adding a schedule is requesting its runbook again and again:
 * the run rules (src/runs/admission.ts) apply as they are. A changing
 * runbook's schedule is approved as a schedule (changing.ts), so it is added
 * by a person, never by the configuration.
 */
import { describeMembers, isEmpty, type RoleMembers } from '../access/roles.ts';
import { UserError } from '../errors.ts';
import type { Runbook } from '../runbooks/schema.ts';
import { changesProduction, holdsRole, type Identity } from '../runs/admission.ts';
import { plural } from '../util/text.ts';
import type { Schedule } from './model.ts';

/** Refuses a configured schedule of a runbook that changes production: its approval needs people, which a configuration file cannot give. */
export function refuseChangingInConfig(runbook: Runbook): void {
  if (!changesProduction(runbook)) return;
  throw new UserError(
    `\`${runbook.id}\` changes production (each run needs ${plural(runbook.approval.required, 'approval')}), so a schedule of it must be approved by two people, which the configuration cannot do: add it from Slack (\`/dr schedule add ${runbook.id} …\`) or the CLI (\`npm run dr -- schedule add ${runbook.id} …\`), where it awaits its approvals.`,
  );
}

/**
 * Refuses a pause, resume or delete by someone who neither created the
 * schedule nor approves its runbook's runs (`approvers`: the runbook's own
 * list, else DR_APPROVERS). A config schedule's creator is the system: only
 * approvers change it.
 */
export function checkScheduleDecider(schedule: Schedule, approvers: RoleMembers & { source?: string | undefined }, who: Identity, action: string): void {
  const creator = schedule.createdBy.via !== 'system' && schedule.createdBy.id === who.id;
  if (creator) return;
  const held = holdsRole(approvers, who);
  if (held === true) return;
  const source = approvers.source ?? 'DR_APPROVERS';
  const byWhom = schedule.createdBy.via === 'system' ? 'the approvers of its runbook' : `<@${schedule.createdBy.id}>, who made it, or the approvers of its runbook`;
  const approverList = isEmpty(approvers) ? `nobody is an approver yet (${source})` : `${describeMembers(approvers)} (${source})`;
  if (held === 'unknown') {
    throw new UserError(
      `You may not ${action} schedule \`${schedule.id}\` from here: only ${byWhom} may, that is ${approverList}, and the CLI cannot ask Slack which user groups you are in. Do it in Slack, or have an admin name your Slack user id (${who.id}) in ${source}. Nothing changed.`,
    );
  }
  throw new UserError(`You may not ${action} schedule \`${schedule.id}\`: only ${byWhom} may; approvers: ${approverList}. Nothing changed.`);
}
