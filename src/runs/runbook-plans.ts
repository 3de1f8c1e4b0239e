import { errorMessage } from '../errors.ts';
import type { RunbookPlanCheck } from '../steps/types.ts';
import type { RunService } from './service.ts';

/**
 * Every runbook's plan on its default parameters and targets, stored nowhere
 * (plans only read): the readiness check's "every runbook plans". A runbook
 * with a parameter no default gives is not planned, and says so.
 */
export async function planEveryRunbook(service: Pick<RunService, 'runbooks' | 'preview'>): Promise<RunbookPlanCheck[]> {
  return Promise.all(
    [...service.runbooks.values()].map(async (runbook): Promise<RunbookPlanCheck> => {
      const needed = Object.entries(runbook.params).filter(([, spec]) => spec.default === undefined).map(([key]) => key);
      if (needed.length) return { runbookId: runbook.id, outcome: 'needs-parameters', detail: `needs ${needed.join(', ')}` };
      try {
        await service.preview({ runbookId: runbook.id, params: {} });
        return { runbookId: runbook.id, outcome: 'planned' };
      } catch (err) {
        return { runbookId: runbook.id, outcome: 'failed', detail: errorMessage(err).slice(0, 300) };
      }
    }),
  );
}
