import type { RunEvent, StepRecord } from '../runs/model.ts';

export interface ProgressWrite {
  record: StepRecord;
  event: Pick<RunEvent, 'type' | 'stepId' | 'message' | 'percent'>;
  at: number;
}

/**
 * Coalesces a step's progress reports: at most one write per interval, the
 * latest always written. Writes run one after another; a failed write is
 * logged and dropped (the next report writes the state as it is then).
 * `flush` ends the attempt: a step still running in the background after it
 * was interrupted cannot write its record again (it would undo "cancelled"
 * while cleanup steps run). It returns the progress last written, so the
 * step's final record carries it without reading the record back.
 */
export function coalescedProgress(options: {
  stepId: string;
  intervalMs: number;
  now: () => number;
  current: () => StepRecord;
  write: (change: ProgressWrite) => Promise<void>;
  onWriteError: (err: unknown) => void;
}) {
  const { stepId, intervalMs, now, current, write, onWriteError } = options;
  let latest: { message: string; percent?: number } | undefined;
  let lastWrite = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  let written: StepRecord['progress'];
  const flushLatest = () => {
    timer = undefined;
    const p = latest;
    if (!p) return;
    latest = undefined;
    lastWrite = now();
    const at = lastWrite;
    const progress = { message: p.message.slice(0, 500), at, ...(p.percent !== undefined ? { percent: p.percent } : {}) };
    writing = writing
      .then(() =>
        write({
          record: { ...current(), progress },
          event: { type: 'step.progress', stepId, message: progress.message, ...(p.percent !== undefined ? { percent: p.percent } : {}) },
          at,
        }).then(() => {
          written = progress;
        }),
      )
      .catch(onWriteError);
  };
  return {
    report: (message: string, percent?: number) => {
      if (closed) return;
      latest = { message, ...(percent !== undefined ? { percent: Math.max(0, Math.min(100, percent)) } : {}) };
      if (timer) return;
      const wait = Math.max(0, lastWrite + intervalMs - now());
      timer = setTimeout(flushLatest, wait);
    },
    flush: async (): Promise<StepRecord['progress']> => {
      closed = true;
      if (timer) {
        clearTimeout(timer);
        flushLatest();
      }
      await writing;
      return written;
    },
  };
}
