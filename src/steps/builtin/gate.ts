import { z } from 'zod';
import { askAndWait } from '../gate-wait.ts';
import { defineStep, PermanentStepError } from '../types.ts';

/**
 * `approval.gate`: stops the run and asks the run's channel a question only
 * the moment can answer ("the last replication lag was 42 s: accept losing
 * that much data?"). The runbook's approvers answer with the message's
 * buttons (or the CLI), under the same rules as Approve; the run waits
 * parked, holding no worker, and is woken by the answer
 * (docs/engine.md, "Run-time gates").
 */
export const gateStep = defineStep({
  id: 'approval.gate',
  targetless: true,
  // Opening the gate is a checkpoint; every later look only reads it.
  resumable: true,
  summary: "Ask the run's approvers a question and wait for their answer",
  params: z
    .object({
      question: z.string().min(1).max(500),
      facts: z.array(z.string().min(1).max(300)).max(10).default([]),
      required: z.number().int().min(1).max(5).default(1),
      timeoutMinutes: z.number().min(1).max(1_440).default(30),
      onTimeout: z.enum(['fail', 'proceed']).default('fail'),
      /** The buttons' labels. */
      choices: z
        .object({ accept: z.string().min(1).max(40).default('Accept'), refuse: z.string().min(1).max(40).default('Refuse') })
        .strict()
        .prefault({}),
    })
    .strict(),
  outputs: ['decision', 'decidedBy'],
  plan: (_ctx, p) =>
    Promise.resolve([
      {
        action: 'wait',
        resource: 'run',
        detail: `ask the runbook's approvers (${p.required} needed, not the requester unless self-approval is allowed): "${p.question}"; ${p.onTimeout === 'fail' ? 'fails' : 'goes on'} if nobody answers within ${p.timeoutMinutes} min, fails if refused`,
      },
    ]),
  async run(ctx, p) {
    const answer = await askAndWait(ctx, { checkpoint: 'open', wait: 'answer', question: p.question, timeoutMinutes: p.timeoutMinutes }, {
      question: p.question,
      facts: p.facts,
      required: p.required,
      choices: p.choices,
      onTimeout: p.onTimeout,
    });
    switch (answer.state) {
      case 'accepted':
        return { decision: 'accepted', decidedBy: answer.by.join(', ') };
      case 'refused':
        throw new PermanentStepError(`refused by ${answer.by}${answer.reason ? `: ${answer.reason}` : ''}`);
      default:
        if (p.onTimeout === 'proceed') return { decision: 'timed-out', decidedBy: '' };
        throw new PermanentStepError(`nobody answered "${p.question}" in time (${p.timeoutMinutes} min, or the step's timeout if shorter); the run does not go on without an answer`);
    }
  },
});
