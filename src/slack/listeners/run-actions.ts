import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { isUserError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { RunService } from '../../runs/service.ts';
import type { RunStore } from '../../runs/store.ts';
import { UserError } from '../../errors.ts';
import { groupsToAsk } from '../../runs/admission.ts';
import type { IncidentService } from '../../incidents/service.ts';
import type { Run } from '../../runs/model.ts';
import type { SlackDirectory } from '../directory.ts';
import { explainSlackError, slackErrorCode } from '../errors.ts';
import { checkedActor, type CheckedActor } from '../guard.ts';
import type { RunMessageNotifier } from '../notifier.ts';
import { identityOf, placeOf } from '../request-context.ts';
import { ephemeralText } from '../views/ephemeral.ts';
import { movedRunRefusal } from '../views/run-moved.ts';
import { permalinkOf } from '../permalink.ts';
import { RUN_ACTIONS } from '../views/run.ts';
import { planAndPost, takeRunRequest } from './dr-command.ts';
import type { RateLimiter } from '../../runs/rate-limit.ts';

export interface RunActionDeps {
  service: RunService;
  store: RunStore;
  notifier: RunMessageNotifier;
  directory: SlackDirectory;
  /** Whether a channel is an open incident's (who may request there: SLACK_RUN_CHANNELS `incidents`). */
  incidents: Pick<IncidentService, 'byChannel'>;
  limiter: RateLimiter;
  limits: { runsPerUser: number; runsTotal: number };
  logger: Logger;
}

const RUN_ID = /^[\w-]{1,64}$/;

/** Reading the channel and its incident for a dry run. */
const READ_TIMEOUT_MS = 1_500;

/** Clicks on Dry run by one person within this long count once. */
const DRY_RUN_DEBOUNCE_S = 30;

/**
 * The buttons on a run's message. Each click is acknowledged at once; the
 * service enforces the approval policy atomically, so double clicks, Slack
 * retries and racing approvers change a run once. Refusals are answered only
 * to the person who clicked.
 */
export function registerRunActions(app: App, deps: RunActionDeps): void {
  const handle = (actionId: string, act: (run: Run, actor: CheckedActor, respond: RespondFn) => Promise<string | undefined>) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, respond, context }) => {
      await ack();
      const runId = action.value ?? '';
      const log = deps.logger.child({ runId, user: body.user.id, action: actionId });
      if (!RUN_ID.test(runId)) {
        await whisper(respond, ':warning: This button does not name a run. Use `/dr show <run>` instead.');
        return;
      }
      try {
        const run = await fromOwnMessage(await deps.service.mustGet(runId), body, app.client);
        const reply = await act(run, checkedActor(context), respond);
        deps.notifier.track(runId);
        log.info({ outcome: 'done' }, 'run button handled');
        if (reply) await whisper(respond, reply);
      } catch (err) {
        if (!isUserError(err)) {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'run button failed');
          // A Slack refusal is told as it is; anything else is the state store.
          const text = slackErrorCode(err) ? `:x: That did not go through. ${explainSlackError(err)}` : ':x: That did not go through (the bot could not reach its state store). Nothing changed; try again.';
          await whisper(respond, text);
          return;
        }
        log.info({ outcome: 'refused', reason: err.message }, 'run button refused');
        await whisper(respond, `:warning: ${err.message}`);
      }
    });
  };

  // Group membership is asked of Slack at every click (never cached), not taken from the request.
  const clicker = async (actor: CheckedActor, run: Run) => identityOf(actor, groupsToAsk(run.policy, actor.id), deps.directory);

  handle(RUN_ACTIONS.approve, async (run, actor) => {
    const { outcome, run: after } = await deps.service.approve(run.id, await clicker(actor, run));
    return outcome === 'recorded' ? `Approval recorded: ${after.approvals.length} of ${after.policy.required}. It starts when the rest are in.` : undefined;
  });
  handle(RUN_ACTIONS.reject, async (run, actor) => {
    await deps.service.reject(run.id, await clicker(actor, run));
    return undefined;
  });
  handle(RUN_ACTIONS.cancel, async (run, actor) => {
    await deps.service.cancel(run.id, await clicker(actor, run));
    return undefined;
  });
  handle(RUN_ACTIONS.dryRun, async (run, actor, respond) => {
    if (!run.message) return 'This run has no message to attach a dry run to.';
    // A dry run is a request: the same who and where as `/dr run` (service.check), before anything is counted.
    const where = await placeOf(run.message.channel, deps, READ_TIMEOUT_MS);
    const who = await identityOf(actor, deps.service.requesterGroupsToAsk(deps.service.runbook(run.runbookId), actor.id), deps.directory);
    deps.service.check({ runbookId: run.runbookId, params: run.params, requester: who, place: where.place });
    // A double click (each click has its own trigger id) or a redelivered click plans one dry run.
    if (!(await deps.store.once(`dry-run:${run.id}:${actor.id}`, DRY_RUN_DEBOUNCE_S))) return 'You asked for a dry run of this run moments ago; it is posted once, in the thread.';
    await takeRunRequest(deps.limiter, actor.id, deps.limits);
    await planAndPost({
      runbookId: run.runbookId,
      params: run.params,
      dryRun: true,
      requester: who,
      // Its runs stay as private as the run it dry-runs.
      where: { ...where, private: where.private || run.origin.private === true },
      threadTs: run.message.ts,
      respond,
      client: app.client,
      deps,
      log: deps.logger,
    });
    return undefined;
  });
}

/**
 * A click counts only on the run's own message in the run's own channel: a
 * copy of the buttons elsewhere (a forwarded message, an old ephemeral) acts on nothing.
 */
export async function fromOwnMessage(run: Run, body: BlockAction, client: WebClient): Promise<Run> {
  const ts = body.container.message_ts as unknown;
  const channel = body.channel?.id ?? (body.container.channel_id as unknown);
  if (!run.message || run.message.ts !== ts || run.message.channel !== channel || body.container.is_ephemeral === true) {
    // The run's old message in its channel (posted afresh when Slack would not update it): point to the live one.
    if (run.message && run.message.channel === channel && body.container.is_ephemeral !== true) throw new UserError(movedRunRefusal(run, await permalinkOf(client, run.message)));
    const where = run.message ? ` in <#${run.message.channel}>` : '';
    throw new UserError(`Buttons of run \`${run.id}\` work only on its own message${where}. Nothing changed.`);
  }
  return run;
}

export async function whisper(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text: ephemeralText(text) });
}
