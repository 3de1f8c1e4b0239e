import { httpCheckStep } from './builtin/http-check.ts';
import { httpRequestStep } from './builtin/http-request.ts';
import { waitStep } from './builtin/wait.ts';
import type { Step } from './types.ts';

/** Every step a runbook may `use:`, by id. */
export type StepRegistry = ReadonlyMap<string, Step>;

export function builtinSteps(): StepRegistry {
  const steps: Step[] = [waitStep, httpCheckStep, httpRequestStep];
  return new Map(steps.map((s) => [s.id, s]));
}
