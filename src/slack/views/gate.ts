import { acceptedBy, type Gate } from '../../runs/gate-model.ts';
import type { Run } from '../../runs/model.ts';
import { capText } from '../../util/text.ts';
import { CONFIRM_TEXT_LIMIT } from '../limits.ts';
import { type Block, type Button, context, escapeMrkdwn, section, truncate } from './message.ts';

/** The gate's buttons; the value of each is `<run id>:<gate id>`, so a click on an older gate's buttons acts on nothing. */
export const GATE_ACTIONS = { accept: 'run.gate-accept', refuse: 'run.gate-refuse' } as const;

/** Caps, so the question and its facts leave the steps room in the message. */
const QUESTION_LIMIT = 1_500;
const BUTTON_TEXT_LIMIT = 75;

/** `<run id>:<gate id>` as a button carries it. */
export function gateButtonValue(runId: string, gateId: string): string {
  return `${runId}:${gateId}`;
}

/** The run and gate a button names, or undefined when its value is not one of ours. */
export function parseGateButtonValue(value: string | undefined): { runId: string; gateId: string } | undefined {
  const match = /^([\w-]{1,64}):(g[a-z0-9]{7})$/.exec(value ?? '');
  return match?.[1] && match[2] ? { runId: match[1], gateId: match[2] } : undefined;
}

/** Whether the run still waits for an answer at its gate (the buttons are shown only then). */
export function gateIsOpen(run: Run): run is Run & { gate: Gate } {
  const gate = run.gate;
  return gate?.state === 'open' && run.state === 'running' && !run.cancelRequested && run.steps[gate.stepId]?.state === 'running';
}

/**
 * The run's gate in its message: while it waits, the question, the facts,
 * who may answer and until when, with Accept / Refuse (on the run's own
 * message only, `live`); once answered, who answered. Pure.
 */
export function gateBlocks(run: Run, approvers: string, live: boolean): Block[] {
  const gate = run.gate;
  if (!gate) return [];
  if (!gateIsOpen(run)) return gate.state === 'open' ? [] : [context(capText(answeredLine(gate), QUESTION_LIMIT))];
  const facts = gate.facts.map((f) => `• ${escapeMrkdwn(f)}`).join('\n');
  const needs = `${gate.required} accept${gate.required > 1 ? 's' : ''} (${gate.votes.length ? `${gate.votes.length} so far` : 'none yet'}) from ${approvers}`;
  const text = `:raised_hand: *Decision needed at \`${escapeMrkdwn(gate.stepId)}\`:* ${escapeMrkdwn(gate.question)}${facts ? `\n${facts}` : ''}\n_Needs ${needs}; ${gate.onTimeout === 'fail' ? 'fails' : 'goes on'} at ${clock(gate.expiresAt)} without an answer._`;
  const blocks: Block[] = [section(capText(text, QUESTION_LIMIT))];
  if (live) {
    const value = gateButtonValue(run.id, gate.id);
    const button = (label: string, actionId: string, style: 'primary' | 'danger', confirm?: Button['confirm']): Button => ({
      type: 'button',
      text: { type: 'plain_text', text: truncate(label, BUTTON_TEXT_LIMIT) },
      action_id: actionId,
      value,
      style,
      ...(confirm ? { confirm } : {}),
    });
    blocks.push({
      type: 'actions',
      block_id: `gate-${gate.id}`,
      elements: [
        button(gate.choices.accept, GATE_ACTIONS.accept, 'primary', {
          title: { type: 'plain_text', text: 'Accept?' },
          text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(gate.question), CONFIRM_TEXT_LIMIT) },
          confirm: { type: 'plain_text', text: truncate(gate.choices.accept, 30) },
          deny: { type: 'plain_text', text: 'Back' },
        }),
        button(gate.choices.refuse, GATE_ACTIONS.refuse, 'danger'),
      ],
    });
  }
  return blocks;
}

function answeredLine(gate: Gate): string {
  const step = `\`${escapeMrkdwn(gate.stepId)}\``;
  if (gate.state === 'accepted') return `:white_check_mark: ${step} accepted by ${acceptedBy(gate).map(escapeMrkdwn).join(', ')}`;
  if (gate.state === 'expired') return `:alarm_clock: ${step}: nobody answered by ${clock(gate.expiresAt)}`;
  const refusal = gate.votes.find((v) => v.choice === 'refuse');
  const who = refusal ? (refusal.by.via === 'slack' ? `<@${refusal.by.id}>` : escapeMrkdwn(refusal.by.name ?? refusal.by.id)) : 'someone';
  return `:no_entry: ${step} refused by ${who}${refusal?.reason ? `: ${escapeMrkdwn(refusal.reason)}` : ''}`;
}

function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}
