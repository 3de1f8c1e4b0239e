import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { isUserError } from '../../errors.ts';
import { groupsToAsk } from '../../runs/admission.ts';
import type { GateChoice } from '../../runs/gate-model.ts';
import { explainSlackError, slackErrorCode } from '../errors.ts';
import { checkedActor } from '../guard.ts';
import { identityOf } from '../request-context.ts';
import { GATE_ACTIONS, parseGateButtonValue } from '../views/gate.ts';
import { fromOwnMessage, type RunActionDeps, whisper } from './run-actions.ts';

/**
 * Accept / Refuse on a run's gate (approval.gate). As the run's buttons:
 * acknowledged at once, past the guard (guests and outsiders never get
 * here), only on the run's own message; RunService.decideGate applies
 * Approve's rules atomically, so double clicks and people answering at once
 * count once. Refusals are answered only to the person who clicked.
 */
export function registerGateActions(app: App, deps: Pick<RunActionDeps, 'service' | 'notifier' | 'directory' | 'logger'>): void {
  const handle = (actionId: string, choice: GateChoice) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, respond, context }) => {
      await ack();
      const named = parseGateButtonValue(action.value);
      const log = deps.logger.child({ runId: named?.runId, gateId: named?.gateId, user: body.user.id, action: actionId });
      if (!named) {
        await whisper(respond, ':warning: This button does not name a run\'s gate. Use `/dr show <run>` instead.');
        return;
      }
      try {
        const run = await fromOwnMessage(await deps.service.mustGet(named.runId), body, app.client);
        const actor = checkedActor(context);
        // Group membership is asked of Slack at every click (never cached), not taken from the request.
        const who = await identityOf(actor, groupsToAsk(run.policy, actor.id), deps.directory);
        const answer = await deps.service.decideGate(run.id, named.gateId, who, choice);
        deps.notifier.track(run.id);
        log.info({ outcome: answer.outcome }, 'gate button handled');
        if (answer.outcome === 'recorded') await whisper(respond, `Your accept is recorded: ${answer.accepts} of ${answer.required}. The run goes on when the rest are in.`);
      } catch (err) {
        if (!isUserError(err)) {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'gate button failed');
          const text = slackErrorCode(err) ? `:x: That did not go through. ${explainSlackError(err)}` : ':x: That did not go through (the bot could not reach its state store). Nothing changed; try again.';
          await whisper(respond, text);
          return;
        }
        log.info({ outcome: 'refused', reason: err.message }, 'gate button refused');
        await whisper(respond, `:warning: ${err.message}`);
      }
    });
  };
  handle(GATE_ACTIONS.accept, 'accept');
  handle(GATE_ACTIONS.refuse, 'refuse');
}
