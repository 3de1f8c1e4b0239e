import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderRunbooks } from '../../../src/cli/render.ts';
import { loadRunbooks, parseRunbook } from '../../../src/runbooks/load.ts';
import { renderRunbookList } from '../../../src/slack/views/lists.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';

const registry = buildRegistry();
const shipped = loadRunbooks(fileURLToPath(new URL('../../../commands/', import.meta.url)), registry);
const runbook = (priority?: string) =>
  parseRunbook(`id: rb\ntitle: Something\n${priority ? `priority: ${priority}\n` : ''}steps:\n  - { id: pause, use: wait, with: { seconds: 1 } }\n`, 'commands/rb.yaml', registry);

describe('runbook priorities', () => {
  it('recovery is urgent, drills and readiness checks are background', () => {
    const priorities = Object.fromEntries([...shipped.values()].map((rb) => [rb.id, rb.priority]));
    expect(priorities).toEqual({
      'az-evacuate': 'urgent',
      'az-extend-shift': 'urgent',
      'az-restore': 'urgent',
      'contain-breach': 'urgent',
      'dr-drill': 'background',
      'failover-region': 'urgent',
      'readiness-check': 'background',
      'restore-cluster': 'urgent',
      'restore-database-pitr': 'urgent',
      'restore-database-snapshot': 'urgent',
      'restore-test': 'background',
      'restore-test-snapshot': 'background',
      'rollback-deployment': 'urgent',
    });
  });

  it('a runbook that names none is normal; a misspelt one is refused with the choices', () => {
    expect(runbook().runbook?.priority).toBe('normal');
    expect(runbook('high').problems.join('\n')).toMatch(/priority.*"urgent".*"normal".*"background"/);
  });

  it('the runbook lists in Slack and the terminal name the urgent and background ones', () => {
    const slack = JSON.stringify(renderRunbookList(shipped.values(), '/dr').blocks);
    expect(slack).toContain('*rollback-deployment* — Roll a deployment back to its previous (or a given) revision (1 approval · urgent)');
    expect(slack).toContain('*readiness-check* — DR readiness check (the Before-Disaster checklist) (no approval · background)');
    const cli = renderRunbooks(shipped.values());
    expect(cli.find((l) => l.startsWith('dr-drill — '))).toMatch(/, background\)$/);
    expect(cli.find((l) => l.startsWith('failover-region — '))).toMatch(/, urgent\)$/);
    const normal = runbook().runbook;
    expect(normal && renderRunbooks([normal])[0]).toBe('rb — Something (1 approval)');
  });
});
