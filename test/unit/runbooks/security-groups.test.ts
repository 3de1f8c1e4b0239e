import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isUserError } from '../../../src/errors.ts';
import { loadRunbooks } from '../../../src/runbooks/load.ts';
import { bindParams } from '../../../src/runbooks/params.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { restoreSnapshotStep } from '../../../src/steps/rds/restore-snapshot.ts';

const registry = buildRegistry();
const runbook = loadRunbooks(fileURLToPath(new URL('../../../commands/', import.meta.url)), registry).get('restore-database-snapshot');
const step = restoreSnapshotStep();

/** What restore-database-snapshot's parameters say of `securityGroups` (undefined: accepted). */
function runbookRefusal(securityGroups: string): string | undefined {
  if (!runbook) throw new Error('restore-database-snapshot did not load');
  try {
    bindParams(runbook, { cluster: 'prod-aurora', healthUrl: 'https://app.internal/health', securityGroups });
    return undefined;
  } catch (err) {
    if (!isUserError(err)) throw err;
    return err.message;
  }
}

/** Whether rds.restore-snapshot takes `securityGroups`. */
const stepAccepts = (securityGroups: string) => step.params.safeParse({ source: 'prod-aurora', securityGroups }).success;

describe('security group ids: one definition for the runbook parameter and the step', () => {
  it('restore-database-snapshot refuses an id of a length the step refuses, saying how to write one', () => {
    expect(runbookRefusal('sg-0123456789a')).toBe(
      'Parameters for restore-database-snapshot are not valid:\n' +
        '• `securityGroups`: `sg-0123456789a` is not a VPC security group id: write sg- and 8 or 17 hex digits, like sg-0123456789abcdef0, several separated by commas, or source for the source\'s own',
    );
  });

  it('the runbook and the step agree on every value', () => {
    const values = [
      'sg-01234567',
      'sg-0123456789abcdef0',
      'sg-01234567, sg-0123456789abcdef0',
      'sg-01234567 sg-89abcdef',
      'source',
      'sg-0123456',
      'sg-012345678',
      'sg-0123456789abcdef',
      'sg-0123456789abcdef01',
      'sg-0123456789ABCDEF0',
      'sg-01234567, sg-xyz',
      'sg-01234567;sg-89abcdef',
      ',',
    ];
    const verdicts = values.map((v) => ({ value: v, runbook: runbookRefusal(v) === undefined, step: stepAccepts(v) }));
    expect(verdicts.filter((v) => v.runbook !== v.step)).toEqual([]);
    expect(verdicts.filter((v) => v.runbook).map((v) => v.value)).toEqual(values.slice(0, 5));
  });
});
