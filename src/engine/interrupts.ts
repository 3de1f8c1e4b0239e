/**
 * How a running step is stopped and paced: the reason put into its abort
 * signal, sleeps and promises that end when it aborts, and retry backoff.
 */

/** Thrown when another executor owns the run now: this one stops without writing. */
export class LostOwnership extends Error {}

/** Thrown into a step's signal to say why it was interrupted. */
export class Interrupt extends Error {
  /** `parked`: the step paused for long; its state is stored and the run's job is delayed until the next look. */
  readonly kind: 'cancelled' | 'timeout' | 'lost' | 'shutdown' | 'parked';
  constructor(kind: Interrupt['kind'], message: string) {
    super(message);
    this.name = 'Interrupt';
    this.kind = kind;
  }
}

/** Exponential backoff with ±50 % jitter, so retrying workers do not stampede an API. */
export function backoff(failures: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (failures - 1));
  return Math.round(exp * (0.5 + Math.random()));
}

/** Rejects as soon as `signal` aborts, even if the step ignores its signal. */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
