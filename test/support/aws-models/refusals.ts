/**
 * Every request a fake refused because it breaks AWS's service model, across
 * the test worker. test/setup.ts fails a test that leaves any here: the suite's
 * own requests must all pass the published model. A test that sends a bad
 * request on purpose takes the refusals it expects with `takeModelRefusals`.
 */
import type { ServiceName } from './model.ts';

export interface ModelRefusal {
  service: ServiceName;
  operation: string;
  code: string;
  message: string;
}

const refusals: ModelRefusal[] = [];

export function recordModelRefusal(refusal: ModelRefusal): void {
  refusals.push(refusal);
}

/** The refusals since the last take, removed from the log. */
export function takeModelRefusals(): ModelRefusal[] {
  return refusals.splice(0);
}
