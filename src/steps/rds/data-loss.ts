/**
 * The question before an ungraceful region switch: when auto-switch finds the
 * primary region silent or the global database unhealthy, a failover loses
 * the writes not yet replicated. Nobody approved that when the plan was
 * approved (the plan could not know), so the run asks the runbook's approvers
 * then, with what may be lost, and fails over only on their acceptance.
 */
import { formatDuration } from '../../util/duration.ts';
import { askAndWait } from '../gate-wait.ts';
import { type MeasuredLag, PermanentStepError, type StepContext } from '../types.ts';

export interface DataLossQuestion {
  globalId: string;
  cluster: string;
  region: string;
  primaryRegion: string;
  /** What the primary region said (or that it did not). */
  reason: string;
  /** A lag the runbook gave; else the readiness check's last measurement is read. */
  givenLagSeconds?: number | undefined;
  approvals: number;
  minutes: number;
}

/** The lag to tell: the one given, else the readiness check's newest measurement of this cluster, else unknown. */
export async function lagToTell(ctx: Pick<StepContext, 'replicationLag'>, cluster: string, given: number | undefined): Promise<{ seconds?: number; text: string }> {
  if (given !== undefined) return { seconds: given, text: `up to ${formatDuration(given * 1_000)} of writes (the replication lag given to the run)` };
  let measured: MeasuredLag | undefined;
  try {
    measured = await ctx.replicationLag?.(cluster);
  } catch {
    // The readiness record could not be read: the lag is unknown, which the question says; it never blocks the question.
    measured = undefined;
  }
  if (!measured) return { text: `unknown: no readiness check measured the replication lag to ${cluster} in the last 7 days` };
  const ago = formatDuration(Math.max(0, Date.now() - measured.measuredAt));
  return {
    seconds: measured.seconds,
    text: `up to ${formatDuration(measured.seconds * 1_000)} of writes: the replication lag the readiness check measured ${ago} ago (${new Date(measured.measuredAt).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${measured.source}); it may have grown since`,
  };
}

/**
 * Asks, waits (parked) and returns the lag told and who accepted;
 * a refusal or no answer in time fails the step with nothing changed.
 */
export async function askDataLoss(ctx: StepContext, q: DataLossQuestion): Promise<{ lagSeconds?: number; acceptedBy: string }> {
  const lag = await lagToTell(ctx, q.cluster, q.givenLagSeconds);
  const question = `Fail global cluster ${q.globalId} over to ${q.cluster} in ${q.region}, accepting the loss of the writes not yet replicated?`;
  const answer = await askAndWait(
    ctx,
    { checkpoint: 'data-loss-question', wait: 'data-loss-answer', question, timeoutMinutes: q.minutes },
    {
      question,
      facts: [
        q.reason.slice(0, 300),
        `Data that may be lost: ${lag.text}`.slice(0, 300),
        `A switchover (nothing lost) needs the primary region ${q.primaryRegion} answering with a healthy global database: it is not, so the choice is a failover or waiting.`,
        'The failover cannot be undone by the bot; refusing changes nothing and fails the step (run failover-region again, or with method=switchover once the primary is back).',
      ],
      required: q.approvals,
      choices: { accept: 'Fail over, accept data loss', refuse: 'Do not fail over' },
      onTimeout: 'fail',
    },
  );
  switch (answer.state) {
    case 'accepted':
      ctx.progress(`data loss accepted by ${answer.by.join(', ')}: failing over`);
      return { ...(lag.seconds === undefined ? {} : { lagSeconds: lag.seconds }), acceptedBy: answer.by.join(', ') };
    case 'refused':
      throw new PermanentStepError(`the failover was refused by ${answer.by}${answer.reason ? ` (${answer.reason})` : ''}: nothing was changed; ${q.globalId} keeps its writer`);
    default:
      throw new PermanentStepError(`nobody accepted the data loss of a failover within ${q.minutes} min (or the step's timeout): nothing was changed; run failover-region again to be asked again`);
  }
}
