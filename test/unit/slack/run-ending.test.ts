import { describe, expect, it } from 'vitest';
import type { Run } from '../../../src/runs/model.ts';
import { TEXT_RECOMMENDED_LIMIT } from '../../../src/slack/limits.ts';
import { endingText } from '../../../src/slack/views/run-ending.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { runFields } from '../../support/runs.ts';

/** A failed run whose first `changed` steps succeeded (changed something), then one failed. */
function failedAfter(changed: number): Run {
  const ids = Array.from({ length: changed + 1 }, (_, i) => `restore-service-${String(i).padStart(3, '0')}`);
  const plan = ids.map((stepId) => ({ stepId, name: `Restore ${stepId}`, use: 'builtin.wait', with: {}, timeoutMs: 60_000, retries: 0, lines: [] }));
  const steps = Object.fromEntries(ids.map((id, i) => [id, i < changed ? { state: 'succeeded' as const, attempts: 1, startedAt: 0, finishedAt: 1 } : { state: 'failed' as const, attempts: 1, startedAt: 0, finishedAt: 1, error: 'boom' }]));
  return { ...runFields(), plan, steps, state: 'failed', startedAt: 0, finishedAt: 60_000, failure: { stepId: ids.at(-1) ?? '', message: 'boom' } } as unknown as Run;
}

describe('the "Already changed" list of a failed run', () => {
  it('lists every changed step when they fit', () => {
    const text = endingText(failedAfter(3));
    expect(text).toContain('Already changed: `restore-service-000`, `restore-service-001`, `restore-service-002`. Audit:');
  });

  it('past 150 changed steps, the ending reply stays within Slack\'s limit: the first steps, how many more, and where all are', () => {
    const run = failedAfter(200);
    const text = endingText(run);
    expect(text.length).toBeLessThanOrEqual(TEXT_RECOMMENDED_LIMIT);
    expect(text).toContain('Already changed: `restore-service-000`, `restore-service-001`');
    const more = Number(/and (\d+) more \(every step: `\/dr show rabc1234 page 1` or `npm run dr -- status rabc1234`\)/.exec(text)?.[1]);
    const listed = (text.match(/`restore-service-\d{3}`/g) ?? []).filter((id) => id !== '`restore-service-200`').length;
    expect(listed + more).toBe(200);
  });

  it('the run message says the same within its own part of the message', () => {
    const shown = JSON.stringify(renderRunMessage(failedAfter(200), 60_000).blocks);
    expect(shown).toContain('*Already changed:* `restore-service-000`');
    expect(shown).toContain('more (every step: `/dr show rabc1234 page 1`');
  });
});
