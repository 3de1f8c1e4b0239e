/**
 * `npm run dr -- schedule list | add | approve | pause | resume | delete`: the same
 * schedules, rules and grammar as `/dr schedule` in Slack. Listing needs no
 * key; the others act as the operator the key names (checked with Slack when
 * it answers), like run, approve and cancel.
 */
import { groupsToAsk, type Identity } from '../runs/admission.ts';
import type { RunService } from '../runs/service.ts';
import { parseScheduleCommand, type ScheduleCommand } from '../schedules/grammar.ts';
import { approvalText } from '../schedules/approval.ts';
import { CHANNEL_ID, describeCadence, type ScheduleView } from '../schedules/model.ts';
import type { ScheduleService } from '../schedules/service.ts';
import { formatDuration } from '../util/duration.ts';
import { plainFromMrkdwn } from '../util/mrkdwn.ts';
import { utc, whoFull } from './render.ts';
import type { CheckedOperator } from './slack-check.ts';

export const SCHEDULE_USAGE = `schedule list | add <runbook> <every 30m | "<cron>"> [key=value …] [skip-when-red=<item id>,…] [<channel id>] | approve <id> | pause <id> | resume <id> | delete <id>`;

export interface ScheduleCliDeps {
  schedules: ScheduleService;
  service: RunService;
  operator: () => Promise<CheckedOperator>;
  out: (line: string) => void;
  now?: () => number;
}

/** Whether `schedule <words>` changes something (it then needs the operator's key): all but `list`. */
export function scheduleChanges(positional: readonly string[]): boolean {
  const verb = positional[0]?.toLowerCase();
  return verb !== undefined && verb !== 'list' && verb !== 'ls';
}

/** `words`: what follows `schedule`. `usageError(text)` makes the CLI's usage refusal (exit code 2). */
export async function scheduleCommand(words: readonly string[], deps: ScheduleCliDeps, usageError: (text: string) => Error): Promise<number> {
  const command: ScheduleCommand = parseScheduleCommand(words, (what) => usageError(`${what}. Usage: npm run dr -- ${SCHEDULE_USAGE}`));
  const { schedules, out } = deps;
  const now = (deps.now ?? Date.now)();
  /** The operator, with their groups among `handles` when Slack can be asked. */
  const identity = async (handles: (id: string) => readonly string[]): Promise<Identity> => {
    const op = await deps.operator();
    const groups = await op.groupsOf(handles(op.actor.id));
    return { ...op.actor, ...(groups ? { groups } : {}) };
  };
  switch (command.verb) {
    case 'list':
      renderSchedules(await schedules.list(), now).forEach(out);
      return 0;
    case 'add': {
      const runbook = deps.service.runbook(command.runbookId);
      const channel = command.channel === undefined ? undefined : channelId(command.channel, usageError);
      const requester = await identity((id) => deps.service.requesterGroupsToAsk(runbook, id));
      const added = await schedules.add({
        runbookId: runbook.id,
        cadence: command.cadence,
        params: command.params,
        ...(channel ? { channel: { id: channel } } : {}),
        ...(command.skipWhenRed ? { skipWhenRed: command.skipWhenRed } : {}),
        requester,
        source: 'cli',
      });
      out(`Schedule ${added.id} added: ${added.runbookId} ${describeCadence(added.cadence)}, in the background, requested by you${added.channel ? `; each run is posted in Slack channel ${added.channel.id}` : '; nothing is posted in Slack'}.`);
      if (added.approval) out(`It changes production: it fires once ${added.approval.required} approvers other than you have approved it (npm run dr -- schedule approve ${added.id}, or /dr schedule approve ${added.id} in Slack).`);
      renderSchedules([added], now).forEach(out);
      return 0;
    }
    case 'approve': {
      const approvers = await schedules.approversFor(command.id);
      const who = await identity((id) => groupsToAsk(approvers, id));
      const { schedule, outcome, count, required } = await schedules.approve(command.id, who);
      out(outcome === 'approved' ? `Schedule ${schedule.id} approved (${count} of ${required}): it ${schedule.paused ? 'fires once resumed' : 'fires from now on'}, each run without a new approval.` : `Your approval of schedule ${schedule.id} is recorded: ${count} of ${required}; it fires once approved by ${required - count} more.`);
      renderSchedules([schedule], now).forEach(out);
      return 0;
    }
    case 'pause':
    case 'resume':
    case 'delete': {
      const approvers = await schedules.approversFor(command.id);
      const who = await identity((id) => groupsToAsk(approvers, id));
      if (command.verb === 'delete') {
        const gone = await schedules.delete(command.id, who);
        out(`Schedule ${gone.id} (${gone.runbookId}) deleted; the runs it made stay (npm run dr -- runs).`);
        return 0;
      }
      const { schedule, changed } = command.verb === 'pause' ? await schedules.pause(command.id, who) : await schedules.resume(command.id, who);
      const verbDone = command.verb === 'pause' ? 'paused' : 'resumed';
      out(changed ? `Schedule ${schedule.id} ${verbDone}.` : `Schedule ${schedule.id} was ${command.verb === 'pause' ? 'paused already' : 'not paused'}; nothing changed.`);
      renderSchedules([schedule], now).forEach(out);
      return 0;
    }
  }
}

/** A channel as the CLI takes it: its id (a shell would take `#…` for a comment unless quoted). */
function channelId(word: string, usageError: (text: string) => Error): string {
  const id = /^<#([CG][A-Z0-9]{2,})(\|[^>]*)?>$/.exec(word)?.[1] ?? word.replace(/^#/, '');
  if (CHANNEL_ID.test(id)) return id;
  throw usageError(`${word.slice(0, 40)}: the CLI takes a channel by its id (like C0123ABCD: the channel's details in Slack, at the bottom); names and "here" work in Slack only. Nothing was scheduled.`);
}

/** Each schedule on two lines: what and where, then its last and next run. Times are UTC. */
export function renderSchedules(list: readonly ScheduleView[], now: number): string[] {
  if (list.length === 0) return ['No schedules. Add one: npm run dr -- schedule add <runbook> every 30m'];
  return list.flatMap((s) => {
    const params = Object.entries(s.params).map(([k, v]) => `${k}=${String(v)}`).join(' ');
    const by = s.createdBy.via === 'system' ? 'the configuration' : whoFull(s.createdBy);
    const last = !s.last
      ? 'not run yet'
      : `${s.last.runId ? `${s.last.runId} ${(s.lastState ?? 'gone').replace('_', ' ')}` : 'no run'} at ${utc(s.last.at)} (${formatDuration(Math.max(0, now - s.last.at))} ago)${s.last.problem ? `: ${plainFromMrkdwn(s.last.problem.split('\n')[0] ?? '')}` : ''}`;
    const next = s.paused ? 'paused' : s.next === undefined ? 'not planned' : utc(s.next);
    const red = s.skipWhenRed?.length ? `  skip when red: ${s.skipWhenRed.join(',')}` : '';
    return [
      `${s.id}  ${s.runbookId}  ${describeCadence(s.cadence)}${params ? `  ${params}` : ''}${s.channel ? `  -> channel ${s.channel.id}` : ''}${red}  (by ${by}, ${s.source})`,
      ...(s.approval ? [`    ${plainFromMrkdwn(approvalText(s.approval, (text) => text))}`] : []),
      `    last: ${last} · next: ${next}`,
    ];
  });
}
