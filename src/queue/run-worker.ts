import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisConnection } from './connection.ts';
import { ZodError } from 'zod';
import { executeRun, type ExecuteDeps } from '../engine/execute.ts';
import type { Logger } from '../log/logger.ts';
import { priorityOf, type Run, SYSTEM_ACTOR } from '../runs/model.ts';
import type { RunService } from '../runs/service.ts';
import type { RunStore } from '../runs/store.ts';
import { GateStore } from '../runs/gates.ts';
import type { StepRegistry } from '../steps/registry.ts';
import { QUEUE_NAMES, RUN_JOB_NAMES, RunJobSchema } from './names.ts';
import type { RunQueue } from './run-queue.ts';
import type { WorkerHandle } from './worker.ts';
import { withTimeout } from './connection.ts';
import { planEveryRunbook } from '../runs/runbook-plans.ts';
import { BACKGROUND_RETRY_MS, backgroundCap, isBackgroundJob, moreUrgentWaiting } from './priority.ts';

export interface RunWorkerOptions {
  connection: RedisConnection;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  logger: Logger;
  store: RunStore;
  service: RunService;
  queue: RunQueue;
  registry: StepRegistry;
  engine?: Pick<ExecuteDeps, 'retryBaseMs' | 'retryMaxMs' | 'pollMs' | 'progressIntervalMs' | 'observer'>;
  /** The drill record (src/drills/store.ts), for the readiness check's drill items. */
  drillHistory?: ExecuteDeps['drillHistory'];
  /** The readiness record's measured replication lags, for a failover's data-loss question. */
  replicationLag?: ExecuteDeps['replicationLag'];
  /** How often approved-but-unqueued runs are looked for. */
  reconcileIntervalMs?: number;
}

/**
 * Executes runs: one BullMQ job per run (see docs/engine.md). A worker that
 * dies mid-run stops renewing its lock; after `lockDurationMs` BullMQ hands the
 * job to another worker, which re-enters the run where it stopped.
 */
export function startRunWorker(options: RunWorkerOptions): WorkerHandle {
  const { connection, prefix, concurrency, lockDurationMs, logger, store, service, queue, registry, engine } = options;
  const log = logger.child({ component: 'run-worker' });
  const drain = new AbortController();
  const interrupt = new AbortController();
  // Background runs executing in this process: kept below the concurrency so a person's request always finds a slot.
  const maxBackground = backgroundCap(concurrency);
  let backgroundRunning = 0;

  const processor = async (job: Job, token?: string): Promise<unknown> => {
    let runId: string;
    try {
      runId = RunJobSchema.parse(job.data).runId;
    } catch (err) {
      if (err instanceof ZodError) throw new UnrecoverableError(`job data is invalid: ${err.message}`);
      throw err;
    }
    if (job.name === RUN_JOB_NAMES.expire) return { expired: await service.expire(runId) };
    if (job.name !== RUN_JOB_NAMES.execute) throw new UnrecoverableError(`unknown job "${job.name}"`);

    if (await moreUrgentWaiting(queue.queue, job)) {
      // A stalled job comes back ahead of every priority: let the more urgent run have this slot.
      await job.moveToWait(token);
      throw new DelayedError();
    }
    const background = isBackgroundJob(job);
    if (background && backgroundRunning >= maxBackground) {
      log.debug({ runId, maxBackground }, 'background run held back: the other slots stay free for requests');
      await job.moveToDelayed(Date.now() + BACKGROUND_RETRY_MS, token);
      throw new DelayedError();
    }
    if (background) backgroundRunning += 1;
    try {
      return await execute(job, runId, token);
    } finally {
      if (background) backgroundRunning -= 1;
    }
  };

  const execute = async (job: Job, runId: string, token: string | undefined): Promise<unknown> => {
    const outcome = await executeRun(runId, {
      store,
      registry,
      targets: service.targets,
      logger,
      token: token ?? `${job.id ?? runId}-${String(job.attemptsMade)}`,
      drain: drain.signal,
      interrupt: interrupt.signal,
      ...(options.drillHistory ? { drillHistory: options.drillHistory } : {}),
      ...(options.replicationLag ? { replicationLag: options.replicationLag } : {}),
      planRunbooks: () => planEveryRunbook(service),
      ...engine,
    });
    if (outcome === 'handed_back') {
      // Back to the queue at once, so another worker continues without waiting for this lock to expire.
      log.info({ runId }, 'run handed back to the queue for another worker');
      await job.moveToWait(token);
      throw new DelayedError();
    }
    if (typeof outcome === 'object') {
      // A long wait: the job sleeps in the delayed set, holding no worker, until its next look (docs/engine.md, "Parked waits").
      await job.moveToDelayed(outcome.parked.wakeAt, token);
      // A cancel or a gate's answer that came while this look was parking found no delayed job to wake: wake it now.
      if ((await store.isCancelRequested(runId)) || (await new GateStore(store).decidedWhileParked(runId))) await queue.wake(runId);
      throw new DelayedError();
    }
    return { outcome };
  };

  const worker = new Worker(QUEUE_NAMES.runs, processor, {
    connection,
    prefix,
    concurrency,
    lockDuration: lockDurationMs,
    stalledInterval: stalledIntervalMs(lockDurationMs),
    // A stalled run is re-entered safely; give up only on one that keeps killing workers.
    maxStalledCount: 5,
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    log.warn({ jobId: job.id, runId: RunJobSchema.safeParse(job.data).data?.runId, attempt: job.attemptsMade, final, err: err.message }, 'run job failed');
    if (final && job.name === RUN_JOB_NAMES.execute) void failRun(store, RunJobSchema.parse(job.data).runId, err.message, log);
  });
  worker.on('error', (err) => {
    log.warn({ err: err.message }, 'run worker error');
  });
  // A live worker's runs stall too when it misses renewals (CPU starvation): these warnings are how to tell.
  worker.on('stalled', (jobId) => {
    log.warn({ jobId }, 'run job stalled: its worker stopped renewing the lock; another worker takes the run over');
  });

  // Repairs what no job will: a run approved but never queued (Redis went away
  // between approval and enqueue), a request past its expiry, a running run
  // whose job vanished, and one whose job BullMQ failed for stalling too often
  // (no 'failed' event for that).
  // An approved run never started: its job may be missing, or ended without starting it (BullMQ fails a job
  // whose workers keep dying before the claim, "stalled more than allowable limit", with no 'failed' event).
  // Nothing of the run was done, so it is queued afresh rather than left waiting for ever.
  const queueApproved = async (run: Run) => {
    const job = await queue.queue.getJob(`exec-${run.id}`);
    if (job && ((await job.isFailed()) || (await job.isCompleted()))) {
      log.warn({ runId: run.id, reason: job.failedReason || 'completed' }, 'an approved run\'s job ended without starting it; queued again');
      await job.remove();
    } else if (job) return;
    await queue.enqueueExecution(run.id, priorityOf(run));
  };
  const reconcile = async () => {
    try {
      for (const run of await store.list(200)) {
        if (run.state === 'approved' && Date.now() - run.createdAt > 5_000) await queueApproved(run);
        // Its expiry job may never have been queued (Redis went away right after the request).
        if (run.state === 'awaiting_approval' && Date.now() > run.expiresAt + 5_000) await service.expire(run.id);
        if (run.state !== 'running') continue;
        const job = await queue.queue.getJob(`exec-${run.id}`);
        if (!job) await queue.enqueueExecution(run.id, priorityOf(run));
        else if (await job.isFailed()) await failRun(store, run.id, job.failedReason || 'its job failed', log);
      }
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'reconcile skipped');
    }
  };
  const reconciler = setInterval(() => void reconcile(), options.reconcileIntervalMs ?? 30_000);
  reconciler.unref();

  return {
    worker,
    async close(timeoutMs) {
      clearInterval(reconciler);
      // First let running runs finish their current step; then interrupt what is still running.
      drain.abort();
      try {
        await withTimeout(worker.close(), Math.max(0, timeoutMs - 2_000), 'running steps did not finish');
        return { handedBack: false };
      } catch {
        interrupt.abort();
        try {
          await withTimeout(worker.close(), 2_000, 'handing back failed');
        } catch {
          await worker.close(true);
        }
        return { handedBack: true };
      }
    },
  };
}

/**
 * How often workers look for jobs whose lock expired. A dead worker's run is
 * taken over within its lock plus up to two of these (docs/engine.md,
 * "Takeover timing"); the check is one small script per interval for all
 * workers together.
 */
export function stalledIntervalMs(lockDurationMs: number): number {
  return Math.max(250, Math.floor(lockDurationMs / 4));
}

/** The job gave up (infrastructure kept failing): the run must not stay "running" forever. */
async function failRun(store: RunStore, runId: string, reason: string, log: Logger): Promise<void> {
  const at = Date.now();
  const message = `the worker executing this run failed repeatedly (${reason})`;
  const res = await store.transition(runId, 'failed', {
    event: { type: 'run.failed', message },
    audit: { actor: SYSTEM_ACTOR, action: 'failed', detail: message },
    fields: { finishedAt: String(at), failure: JSON.stringify({ message }) },
    at,
  });
  if (res.ok) log.error({ runId }, message);
}
