import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import { isUserError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { RunService } from '../../runs/service.ts';
import type { RunStore } from '../../runs/store.ts';
import type { UserGroups } from '../groups.ts';
import type { RunMessageNotifier } from '../notifier.ts';
import { RUN_ACTIONS } from '../views/run.ts';
import { planAndPost } from './dr-command.ts';

export interface RunActionDeps {
  service: RunService;
  store: RunStore;
  notifier: RunMessageNotifier;
  groups: UserGroups;
  logger: Logger;
}

const RUN_ID = /^[\w-]{1,64}$/;

/**
 * The buttons on a run's message. Each click is acknowledged at once; the
 * service enforces the approval policy atomically, so double clicks, Slack
 * retries and racing approvers change a run once. Refusals are answered only
 * to the person who clicked.
 */
export function registerRunActions(app: App, deps: RunActionDeps): void {
  const handle = (actionId: string, act: (runId: string, body: BlockAction, respond: RespondFn) => Promise<string | undefined>) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, respond }) => {
      await ack();
      const runId = action.value ?? '';
      const log = deps.logger.child({ runId, user: body.user.id, action: actionId });
      if (!RUN_ID.test(runId)) {
        await whisper(respond, ':warning: This button does not name a run. Use `/dr show <run>` instead.');
        return;
      }
      try {
        const reply = await act(runId, body, respond);
        deps.notifier.track(runId);
        log.info({ outcome: 'done' }, 'run button handled');
        if (reply) await whisper(respond, reply);
      } catch (err) {
        if (!isUserError(err)) {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'run button failed');
          await whisper(respond, ':x: That did not go through (the bot could not reach its state store). Nothing changed; try again.');
          return;
        }
        log.info({ outcome: 'refused', reason: err.message }, 'run button refused');
        await whisper(respond, `:warning: ${err.message}`);
      }
    });
  };

  const clicker = async (body: BlockAction, runId: string) => {
    const run = await deps.service.mustGet(runId);
    const groups = await deps.groups.groupsOf(body.user.id, run.policy.groups);
    return { id: body.user.id, name: body.user.username || body.user.name || body.user.id, via: 'slack' as const, groups };
  };

  handle(RUN_ACTIONS.approve, async (runId, body) => {
    const { outcome, run } = await deps.service.approve(runId, await clicker(body, runId));
    return outcome === 'recorded' ? `Approval recorded: ${run.approvals.length} of ${run.policy.required}. It starts when the rest are in.` : undefined;
  });
  handle(RUN_ACTIONS.reject, async (runId, body) => {
    await deps.service.reject(runId, await clicker(body, runId));
    return undefined;
  });
  handle(RUN_ACTIONS.cancel, async (runId, body) => {
    await deps.service.cancel(runId, await clicker(body, runId));
    return undefined;
  });
  handle(RUN_ACTIONS.dryRun, async (runId, body, respond) => {
    const run = await deps.service.mustGet(runId);
    if (!run.message) return 'This run has no message to attach a dry run to.';
    const requester = { id: body.user.id, name: body.user.username || body.user.id, via: 'slack' as const };
    await planAndPost({
      runbookId: run.runbookId,
      params: run.params,
      dryRun: true,
      requester,
      channel: run.message.channel,
      threadTs: run.message.ts,
      respond,
      client: app.client,
      deps,
      log: deps.logger,
    });
    return undefined;
  });
}

async function whisper(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}
