import { describe, expect, it } from 'vitest';
import type { Gate } from '../../../src/runs/gate-model.ts';
import type { Run } from '../../../src/runs/model.ts';
import { GATE_ACTIONS, parseGateButtonValue } from '../../../src/slack/views/gate.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { runFields } from '../../support/runs.ts';

const GATE: Gate = {
  id: 'gabc2345',
  stepId: 'accept-loss',
  question: 'Up to 42 s of writes may be lost <!channel>. Fail over?',
  facts: ['lag: *42 s*'],
  required: 2,
  choices: { accept: 'Accept data loss', refuse: 'Refuse' },
  onTimeout: 'fail',
  openedAt: 0,
  expiresAt: 1_800_000,
  state: 'open',
  votes: [],
};

function gatedRun(gate: Gate, overrides: Partial<Run> = {}): Run {
  return {
    ...runFields(),
    plan: [{ stepId: 'accept-loss', use: 'approval.gate', name: 'Accept the data loss', with: {}, timeoutMs: 2_400_000, retries: 0, lines: [] }],
    state: 'running',
    steps: { 'accept-loss': { state: 'running', attempts: 1, startedAt: 0 } },
    startedAt: 0,
    gate,
    ...overrides,
  };
}

const shown = (run: Run, live = true) => JSON.stringify(renderRunMessage(run, 60_000, { live }).blocks);

describe('a run-time gate in the run message', () => {
  it('asks the question with its facts, escaped, and who may answer; the buttons carry the run and the gate', () => {
    const text = shown(gatedRun(GATE));
    expect(text).toContain('Up to 42 s of writes may be lost &lt;!channel&gt;. Fail over?');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('Needs 2 accepts (none yet) from');
    expect(text).toContain('other than the requester');
    expect(text).toContain(`"action_id":"${GATE_ACTIONS.accept}"`);
    expect(text).toContain('"value":"rabc1234:gabc2345"');
    expect(parseGateButtonValue('rabc1234:gabc2345')).toEqual({ runId: 'rabc1234', gateId: 'gabc2345' });
    expect(parseGateButtonValue('rabc1234')).toBeUndefined();
  });

  it('shows no buttons on a copy, once a cancel is requested, or once answered (then who answered)', () => {
    expect(shown(gatedRun(GATE), false)).not.toContain(GATE_ACTIONS.accept);
    expect(shown(gatedRun(GATE, { cancelRequested: { by: { id: 'U0BOB00001', via: 'slack' }, at: 1 } }))).not.toContain(GATE_ACTIONS.accept);
    const refused = shown(gatedRun({ ...GATE, state: 'refused', votes: [{ by: { id: 'U0BOB00001', via: 'slack' }, choice: 'refuse', at: 5, reason: 'primary back' }] }));
    expect(refused).not.toContain(GATE_ACTIONS.accept);
    expect(refused).toContain('refused by <@U0BOB00001>: primary back');
  });
});
