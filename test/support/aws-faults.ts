/**
 * Faults a test puts on the readiness fakes (CloudWatch, ECR, Secrets
 * Manager, Route 53, S3): the next calls of an operation fail with an error
 * of the service's shape, or are answered only after a delay (a timeout, for
 * a client that gives up sooner); and the rate limits AWS documents, as a
 * token bucket that answers Throttling when empty.
 */

/** An error answer (`code` in the service's own error shape) or a delay before the normal answer. */
export type AwsFailure = AwsErrorAnswer | { delayMs: number };

export class FailureQueue {
  private readonly pending = new Map<string, AwsFailure[]>();

  /** The next `times` calls of `operation` fail or wait this way. */
  add(operation: string, failure: AwsFailure, times = 1): void {
    const list = this.pending.get(operation) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.pending.set(operation, list);
  }

  /** The failure for this call of `operation`, if one is queued (it is used up). */
  take(operation: string): AwsFailure | undefined {
    return this.pending.get(operation)?.shift();
  }

  clear(): void {
    this.pending.clear();
  }
}

export type AwsErrorAnswer = { status: number; code: string; message?: string };

/** After waiting out a delay, the error to answer instead of the normal answer, if the failure is one. */
export async function failureAnswer(failure: AwsFailure | undefined): Promise<AwsErrorAnswer | undefined> {
  if (!failure) return undefined;
  if ('delayMs' in failure) {
    await new Promise((resolve) => setTimeout(resolve, failure.delayMs));
    return undefined;
  }
  return failure;
}

export interface RateLimit {
  /** How many calls may come at once. */
  burst: number;
  /** How many calls the bucket gains back per second. */
  perSecond: number;
}

/** A token bucket per key (an operation, or the whole account), as AWS throttles its APIs. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Takes one token from each of `keys` under `limit`; false (and nothing taken) when any is empty. */
  take(keys: string[], limit: RateLimit): boolean {
    const now = this.now();
    const states = keys.map((key) => {
      const b = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1_000) * limit.perSecond);
      b.at = now;
      this.buckets.set(key, b);
      return b;
    });
    if (states.some((b) => b.tokens < 1)) return false;
    for (const b of states) b.tokens -= 1;
    return true;
  }

  clear(): void {
    this.buckets.clear();
  }
}
