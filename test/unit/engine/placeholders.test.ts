/**
 * Only the planner makes placeholders (`‹steps.<id>.outputs.<name>›`): a
 * user-given value shaped like one would skip step validation at plan time,
 * so values holding ‹ or › are refused wherever they enter.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bindStepParams, hasPlaceholderDelimiters, isPlaceholder } from '../../../src/engine/bind.ts';
import { planRun } from '../../../src/engine/plan.ts';
import { UserError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { bindParams } from '../../../src/runbooks/params.ts';
import { placeholder } from '../../../src/runbooks/refs.ts';
import type { Runbook } from '../../../src/runbooks/schema.ts';
import type { StepRegistry } from '../../../src/steps/registry.ts';
import { defineStep } from '../../../src/steps/types.ts';
import { testTargets } from '../../support/engine.ts';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
  throw new Error('no error');
};

/** A step that only accepts an https URL, so a value that skipped validation shows. */
const probe = defineStep({
  id: 'probe',
  summary: 'probe',
  params: z.object({ url: z.url({ protocol: /^https$/ }) }),
  outputs: [],
  plan: (_ctx, p) => Promise.resolve([{ action: 'check' as const, resource: p.url, detail: `probe ${p.url}` }]),
  run: () => Promise.resolve({}),
});
const registry = { get: () => probe } as unknown as StepRegistry;

const runbook = {
  id: 'probe-health',
  title: 'Probe',
  params: { url: { type: 'string' as const }, note: { type: 'string' as const, default: 'none' } },
  steps: [{ id: 'probe', use: 'probe', with: { url: '${{ params.url }}' }, timeout: 1_000, retries: 0 }],
  always: [],
} as unknown as Runbook;

describe('placeholder-shaped parameter values are refused', () => {
  it('bindParams refuses ‹ and › in any given value, naming the parameter', () => {
    for (const value of ['‹x›', '‹steps.probe.outputs.url›', 'https://a.example/‹x', 'tail›']) {
      const message = messageOf(() => bindParams(runbook, { url: value }));
      expect(message).toContain('Parameters for probe-health are not valid:');
      expect(message).toContain('`url`: ');
      expect(message).toContain('contains ‹ or ›, which are not allowed in a parameter value');
    }
    // Only the offending parameter is named.
    expect(messageOf(() => bindParams(runbook, { url: 'https://a.example', note: '‹n›' }))).toMatch(/• `note`: `‹n›` contains ‹ or ›/);
    expect(bindParams(runbook, { url: 'https://a.example/<ok>' })).toEqual({ url: 'https://a.example/<ok>', note: 'none' });
  });

  it('a runbook default holding them is refused too, and said to be the default', () => {
    const withDefault = { ...runbook, params: { url: { type: 'string' as const, default: '‹d›' } } } as unknown as Runbook;
    expect(messageOf(() => bindParams(withDefault, {}))).toContain("(this is the runbook's default)");
  });

  it('planRun refuses them as well, whoever calls it', async () => {
    await expect(planRun({ runbook, params: { url: '‹steps.probe.outputs.url›' }, runId: 'r1', registry, targets: testTargets({}), logger: createLogger({ level: 'silent' }) })).rejects.toThrow(
      /Parameter `url` contains ‹ or ›, which are not allowed in a parameter value\. Nothing was planned\./,
    );
    const planned = await planRun({ runbook, params: { url: 'https://a.example/x' }, runId: 'r1', registry, targets: testTargets({}), logger: createLogger({ level: 'silent' }) });
    expect(planned[0]?.lines[0]?.detail).toBe('probe https://a.example/x');
  });

  it('step problems echoed at plan time are escaped for Slack', async () => {
    await expect(planRun({ runbook, params: { url: '<!channel>' }, runId: 'r1', registry, targets: testTargets({}), logger: createLogger({ level: 'silent' }) })).rejects.toThrow(/\(got "&lt;!channel&gt;"\)/);
  });
});

describe('isPlaceholder: only the planner\'s shape', () => {
  it('is true for what refs.placeholder makes, and for nothing merely delimited', () => {
    expect(isPlaceholder(placeholder('steps.restore.outputs.cluster'))).toBe(true);
    for (const v of ['‹x›', '‹›', '‹steps.a.outputs.b›x', '‹steps.a b.outputs.c›', 'steps.a.outputs.b', 42]) expect(isPlaceholder(v)).toBe(false);
  });

  it('bindStepParams defers validation only for real placeholders', () => {
    const scope = { params: {}, outputs: {}, run: { id: 'r', shortId: 'r' } };
    expect(bindStepParams(probe, { url: '${{ steps.earlier.outputs.url }}' }, scope, true)).toMatchObject({ ok: true });
    // A literal merely delimited like one is validated (and fails) like any value.
    expect(bindStepParams(probe, { url: '‹not a url›' }, scope, true)).toMatchObject({ ok: false });
  });

  it('hasPlaceholderDelimiters looks inside arrays and objects', () => {
    expect(hasPlaceholderDelimiters(['a', { b: 'x›' }])).toBe(true);
    expect(hasPlaceholderDelimiters(['a', { b: 'x' }, 3, true])).toBe(false);
  });
});
