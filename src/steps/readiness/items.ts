import { errorMessage } from '../../errors.ts';
import { capText } from '../../util/text.ts';
import type { ItemArea, ItemResult, ItemStatus } from './report.ts';

/** What an item is, before it is measured. */
export interface ItemSpec {
  id: string;
  area: ItemArea;
  title: string;
  objective: string;
}

/** An item's result: what was measured, why it has its status, how to fix it. */
export function result(spec: ItemSpec, status: ItemStatus, value: string, reason: string, fix?: string): ItemResult {
  return { ...spec, status, value: capText(value, 500), reason: capText(reason, 1_000), ...(fix && status !== 'pass' ? { fix: capText(fix, 500) } : {}) };
}

export const pass = (spec: ItemSpec, value: string, reason: string): ItemResult => result(spec, 'pass', value, reason);
export const fail = (spec: ItemSpec, value: string, reason: string, fix: string): ItemResult => result(spec, 'fail', value, reason, fix);
export const warn = (spec: ItemSpec, value: string, reason: string, fix: string): ItemResult => result(spec, 'warn', value, reason, fix);

/** An item whose API could not be asked: unknown, never a pass. */
export function unknown(spec: ItemSpec, reason: string, fix = 'Check that the bot can reach the API with its role (deploy/iam), then run the check again.'): ItemResult {
  return result(spec, 'unknown', 'not measured', reason, fix);
}

/** Thrown by `withDeadline` when an API does not answer in time. */
class NoAnswer extends Error {}

/**
 * Runs one area's reads with a deadline: an API that fails or does not answer
 * in time makes `specs` (the items that needed it) unknown, with the reason;
 * the other areas go on. `signal` reaches the SDK calls, so a late answer is
 * abandoned, not awaited.
 */
export async function measured(specs: readonly ItemSpec[], timeoutMs: number, read: (signal: AbortSignal) => Promise<ItemResult[]>): Promise<ItemResult[]> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new NoAnswer());
      reject(new NoAnswer());
    }, timeoutMs);
  });
  try {
    return await Promise.race([read(controller.signal), timeout]);
  } catch (err) {
    const why = err instanceof NoAnswer || controller.signal.aborted ? `no answer within ${Math.round(timeoutMs / 1_000)} s` : capText(errorMessage(err), 300);
    return specs.map((spec) => unknown(spec, `Could not be measured: ${why}.`));
  } finally {
    clearTimeout(timer);
  }
}

/** Seconds, for readings and metrics. */
export const seconds = (ms: number): number => Math.max(0, Math.round(ms / 1_000));
