import { UserError } from '../../errors.ts';
import type { IncidentService } from '../../incidents/service.ts';
import { withTimeout } from '../../queue/connection.ts';
import { groupsToAsk } from '../../runs/admission.ts';
import type { RunService } from '../../runs/service.ts';
import type { ScheduleCommand } from '../../schedules/grammar.ts';
import { CHANNEL_ID } from '../../schedules/model.ts';
import type { ScheduleService } from '../../schedules/service.ts';
import { code } from '../../util/mrkdwn.ts';
import { truncate } from '../../util/text.ts';
import type { SlackDirectory } from '../directory.ts';
import type { CheckedActor } from '../guard.ts';
import { identityOf, placeOf } from '../request-context.ts';
import type { SlackMessage } from '../views/message.ts';
import { renderScheduleChange, renderScheduleList } from '../views/schedules.ts';

export interface ScheduleCommandDeps {
  schedules: ScheduleService;
  service: RunService;
  directory: SlackDirectory;
  incidents: Pick<IncidentService, 'byChannel'>;
  slash: string;
}

/** Where the command was typed, as Slack's slash command names it. */
export interface CommandPlace {
  channelId: string;
  channelName?: string | undefined;
}

/** Each Slack or Redis call must leave room inside Slack's 3-second window. */
const CALL_TIMEOUT_MS = 1_500;

/**
 * `/dr schedule …`: the answer only the asker sees. Adding checks the
 * runbook, the person and the parameters as a run request does (the service);
 * pausing, resuming and deleting are for the schedule's creator or an
 * approver. A refusal is a UserError and changes nothing.
 */
export async function answerScheduleCommand(command: ScheduleCommand, actor: CheckedActor, here: CommandPlace, deps: ScheduleCommandDeps): Promise<SlackMessage> {
  const { schedules, slash } = deps;
  const timed = <T>(promise: Promise<T>, what: string) => withTimeout(promise, CALL_TIMEOUT_MS, what);
  const now = Date.now();
  switch (command.verb) {
    case 'list':
      // A schedule that posts in a private channel is listed only there, like its runs.
      return renderScheduleList((await timed(schedules.list(), 'Reading schedules')).filter((s) => !s.channel?.private || s.channel.id === here.channelId), now, slash);
    case 'add': {
      const runbook = deps.service.runbook(command.runbookId);
      const channel = command.channel === undefined ? undefined : await channelOf(command.channel, here, deps.directory);
      const [where, who] = await Promise.all([
        placeOf(here.channelId, deps, CALL_TIMEOUT_MS),
        identityOf(actor, deps.service.requesterGroupsToAsk(runbook, actor.id), deps.directory, CALL_TIMEOUT_MS),
      ]);
      const added = await timed(
        schedules.add({
          runbookId: runbook.id,
          cadence: command.cadence,
          params: command.params,
          ...(channel ? { channel } : {}),
          ...(command.skipWhenRed ? { skipWhenRed: command.skipWhenRed } : {}),
          requester: who,
          place: where.place,
          source: 'slack',
        }),
        'Adding the schedule',
      );
      const posted = added.channel ? ` Each run is posted in <#${added.channel.id}>.` : ' Its runs are listed in `runs`; nothing is posted (add a channel to see each one).';
      const approval = added.approval
        ? ` It changes production: it fires once approved by ${added.approval.required} approvers other than you (\`${slash} schedule approve ${added.id}\`), then each run goes ahead without a new approval.`
        : '';
      return renderScheduleChange(`:calendar: Scheduled \`${added.runbookId}\` as \`${added.id}\`: it runs in the background, requested by you.${posted}${approval}`, added, now);
    }
    case 'approve': {
      const approvers = await timed(schedules.approversFor(command.id), 'Reading the schedule');
      const who = await identityOf(actor, groupsToAsk(approvers, actor.id), deps.directory, CALL_TIMEOUT_MS);
      const { schedule, outcome, count, required } = await timed(schedules.approve(command.id, who), 'Approving the schedule');
      const headline = outcome === 'approved'
        ? `:white_check_mark: Approved \`${schedule.id}\` (${count} of ${required}): ${schedule.paused ? 'it fires once resumed' : 'it fires from now on'}, each run without a new approval.`
        : `:ballot_box_with_check: Your approval of \`${schedule.id}\` is recorded (${count} of ${required}): it fires once approved by ${required - count} more.`;
      return renderScheduleChange(headline, schedule, now);
    }
    case 'pause':
    case 'resume':
    case 'delete': {
      const approvers = await timed(schedules.approversFor(command.id), 'Reading the schedule');
      const who = await identityOf(actor, groupsToAsk(approvers, actor.id), deps.directory, CALL_TIMEOUT_MS);
      if (command.verb === 'delete') {
        const gone = await timed(schedules.delete(command.id, who), 'Deleting the schedule');
        return { text: `:wastebasket: Deleted schedule \`${gone.id}\` (\`${gone.runbookId}\`). The runs it made stay listed in \`${slash} runs\`.` };
      }
      const { schedule, changed } = await timed(command.verb === 'pause' ? schedules.pause(command.id, who) : schedules.resume(command.id, who), 'Changing the schedule');
      const headline = command.verb === 'pause'
        ? changed ? `:double_vertical_bar: Paused \`${schedule.id}\`: it makes no runs until resumed.` : `\`${schedule.id}\` was paused already.`
        : changed ? `:arrow_forward: Resumed \`${schedule.id}\`.` : `\`${schedule.id}\` is not paused.`;
      return renderScheduleChange(headline, schedule, now);
    }
  }
}

/**
 * The channel a schedule posts in, from what was typed: Slack's `<#C…|name>`,
 * a channel id, `here`, or `#name` when it names this channel (the command
 * reaches the bot as plain text, so other names cannot be looked up). It must
 * be a channel the bot can see, not a DM.
 */
async function channelOf(word: string, here: CommandPlace, directory: SlackDirectory): Promise<{ id: string; private: boolean }> {
  const mention = /^<#([CG][A-Z0-9]{2,})(\|[^>]*)?>$/.exec(word)?.[1];
  const bare = word.replace(/^#/, '');
  const name = bare.toLowerCase();
  const id = mention ?? (CHANNEL_ID.test(bare) ? bare : word.toLowerCase() === 'here' || (here.channelName !== undefined && name === here.channelName.toLowerCase()) ? here.channelId : undefined);
  const nothing = 'Nothing was scheduled.';
  if (id === undefined) {
    throw new UserError(`${code(truncate(word, 40, ''))} is a channel name the bot cannot look up from a command: write \`here\` for this channel, or the channel's id (like C0123ABCD: the channel's details, at the bottom). ${nothing}`);
  }
  if (!CHANNEL_ID.test(id)) throw new UserError(`Scheduled runs are posted in a channel the team sees, not in a DM: name a channel (\`here\` in one, or its id). ${nothing}`);
  let conversation;
  try {
    conversation = await withTimeout(directory.conversation(id), CALL_TIMEOUT_MS, 'Reading the channel');
  } catch {
    throw new UserError(`The bot cannot see <#${id}> (a private channel it is not in, or no channel): invite it there (\`/invite @DR ChatOps\`) or name another channel. ${nothing}`);
  }
  if (conversation.dm) throw new UserError(`Scheduled runs are posted in a channel the team sees, not in a DM or group DM: name a channel. ${nothing}`);
  return { id, private: conversation.private };
}
