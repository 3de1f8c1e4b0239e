import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunbooks, parseRunbook, RunbookLoadError } from '../../../src/runbooks/load.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';

const registry = buildRegistry();
const KNOWN = [...registry.keys()].sort().join(', ');

function problems(text: string, name = 'rb'): string[] {
  return parseRunbook(text, `commands/${name}.yaml`, registry).problems;
}

const VALID = `id: rb
title: Restore something
scenario: data-corruption
params:
  url: { type: string, pattern: 'https?://.+' }
approval: { required: 1 }
steps:
  - id: check
    use: http.check
    with: { url: '\${{ params.url }}' }
  - id: pause
    use: wait
    with: { seconds: '\${{ steps.check.outputs.attempts }}' }
`;

describe('runbook loading', () => {
  it('accepts a valid runbook with defaults filled in', () => {
    const { runbook, problems: found } = parseRunbook(VALID, 'commands/rb.yaml', registry);
    expect(found).toEqual([]);
    expect(runbook?.approval).toEqual({ required: 1, users: [], groups: [], allowSelfApproval: false, expiresIn: 900_000 });
    expect(runbook?.timeout).toBe(7_200_000);
    expect(runbook?.steps[0]).toMatchObject({ timeout: 600_000, retries: 3 });
  });

  it('names the file, line and path of an unknown step', () => {
    expect(problems(VALID.replace('use: wait', 'use: wiat'))).toEqual([
      `commands/rb.yaml:12: steps[1] (pause).use: unknown step "wiat" (known: ${KNOWN})`,
    ]);
  });

  it('names a bad parameter reference and an output of a later or unknown step', () => {
    const text = VALID.replace('params.url', 'params.uri').replace('steps.check.outputs.attempts', 'steps.later.outputs.x');
    expect(problems(text)).toEqual([
      'commands/rb.yaml:10: steps[0] (check).with.url: ${{ params.uri }}: no parameter "uri" (parameters: url)',
      'commands/rb.yaml:13: steps[1] (pause).with.seconds: ${{ steps.later.outputs.x }}: no earlier step "later" (a step can only use outputs of steps before it)',
    ]);
  });

  it('an always (cleanup) step may use earlier cleanup steps\' outputs, never a main step\'s; ids stay unique across both', () => {
    const withCleanup = (refs: string, id = 'tidy') =>
      `${VALID}always:\n  - id: first\n    use: http.check\n    with: { url: '\${{ params.url }}' }\n  - id: ${id}\n    use: wait\n    with: { seconds: '\${{ ${refs} }}' }\n`;
    const ok = parseRunbook(withCleanup('steps.first.outputs.attempts'), 'commands/rb.yaml', registry);
    expect(ok.problems).toEqual([]);
    expect(ok.runbook?.always.map((s) => s.id)).toEqual(['first', 'tidy']);
    expect(problems(withCleanup('steps.check.outputs.attempts'))).toEqual([
      'commands/rb.yaml:20: always[1] (tidy).with.seconds: ${{ steps.check.outputs.attempts }}: an always step cannot use outputs of main step "check": it may not have run (use params and run.id)',
    ]);
    expect(problems(withCleanup('steps.first.outputs.attempts', 'pause'))).toEqual(['commands/rb.yaml:18: always[1] (pause): step id is used twice']);
  });

  it('names missing required fields and misspelt keys', () => {
    expect(problems('id: rb\nsteps:\n  - id: a\n    use: wait\n    with: { seconds: 1 }\n    retry: 3\n')).toEqual([
      'commands/rb.yaml:1: title: Invalid input: expected string, received undefined',
      'commands/rb.yaml:3: steps[0]: Unrecognized key: "retry"',
    ]);
  });

  it('checks step parameters against the step: unknown keys, wrong types', () => {
    const text = VALID.replace("with: { url: '${{ params.url }}' }", "with: { url: '${{ params.url }}', expectStatus: 'ok', timeoutSecs: 3 }");
    expect(problems(text)).toEqual([
      'commands/rb.yaml:10: steps[0] (check).with.expectStatus: Invalid input: expected number, received string',
      'commands/rb.yaml:10: steps[0] (check).with.timeoutSecs: unknown parameter (parameters: url, expectStatus, bodyContains, withinSeconds, intervalSeconds, requestTimeoutSeconds)',
    ]);
  });

  it('refuses an id that differs from the file name, a duplicate step id, and a default that breaks its own rule', () => {
    const text = VALID.replace("pattern: 'https?://.+' }", "pattern: 'https?://.+', default: 'ftp://x' }").replace('id: pause', 'id: check');
    expect(problems(text, 'other')).toEqual([
      'commands/other.yaml:1: id: "rb" must match the file name (other)',
      'commands/other.yaml:5: params.url.default: `ftp://x` does not match https?://.+',
      'commands/other.yaml:11: steps[1] (check): step id is used twice',
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('id: rb\ntitle: [unclosed\nsteps: []\n')[0]).toMatch(/^commands\/rb\.yaml:\d+: YAML syntax: /);
  });

  it('loads all or nothing: one bad file fails the whole folder with every problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbooks-'));
    writeFileSync(join(dir, 'rb.yaml'), VALID);
    writeFileSync(join(dir, 'broken.yaml'), 'id: broken\ntitle: x\nsteps:\n  - id: a\n    use: nope\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a runbook');
    let error: unknown;
    try {
      loadRunbooks(dir, registry);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RunbookLoadError);
    expect((error as RunbookLoadError).problems).toEqual([
      `${join(dir, 'broken.yaml')}:5: steps[0] (a).use: unknown step "nope" (known: ${KNOWN})`,
    ]);
    expect((error as Error).message).toContain('nothing was loaded');

    writeFileSync(join(dir, 'broken.yaml'), VALID.replace('id: rb', 'id: broken'));
    expect([...loadRunbooks(dir, registry).keys()]).toEqual(['broken', 'rb']);
  });

  it('loads the fixture runbooks the engine tests use', () => {
    expect(loadRunbooks(new URL('../../fixtures/commands/', import.meta.url).pathname, registry).size).toBeGreaterThanOrEqual(5);
  });
});
