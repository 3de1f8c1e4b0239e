import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { scoreDrill } from '../../../src/drills/score.ts';
import { scenarioTargets } from '../../../src/incidents/scenarios.ts';
import type { PlannedStep, Run, StepRecord } from '../../../src/runs/model.ts';
import { runFields } from '../../support/runs.ts';

const T0 = Date.UTC(2026, 11, 7, 10, 0);
const S = 1_000;
const objectives = scenarioTargets({ 'data-corruption': { rtoMs: 60 * S, rpoMs: 600 * S } });

const planned = (stepId: string, always = false): PlannedStep => ({ stepId, name: `Step ${stepId}`, use: 'wait', with: {}, timeoutMs: 60_000, retries: 0, lines: [], ...(always ? { always: true } : {}) });
const done = (from: number, to: number, outputs?: StepRecord['outputs']): StepRecord => ({ state: 'succeeded', attempts: 1, startedAt: T0 + from * S, finishedAt: T0 + to * S, ...(outputs ? { outputs } : {}) });

/** A drill run of restore (0–20 s), measure (20–21 s) and a cleanup (21–50 s), succeeded unless `overrides` say otherwise. */
function drillRun(overrides: Partial<Run> = {}): Run {
  return {
    ...runFields({ id: 'rdrill001', runbookId: 'restore-drill', runbookTitle: 'Restore test' }),
    scenario: 'data-corruption',
    origin: { channelId: 'C0DRILL001' },
    plan: [planned('restore'), planned('measure'), planned('cleanup', true)],
    state: 'succeeded',
    steps: { restore: done(0, 20), measure: done(20, 21, { measuredRpoSeconds: 300 }), cleanup: done(21, 50) },
    startedAt: T0,
    finishedAt: T0 + 50 * S,
    ...overrides,
  };
}

describe('scoring a drill run', () => {
  it('achieved RTO ends with the last main step (the cleanup is not recovery); RPO is the largest measuredRpoSeconds; within both: a pass', () => {
    const drill = scoreDrill(drillRun(), 'data-corruption', objectives, T0 + 60 * S);
    expect(drill).toMatchObject({ runId: 'rdrill001', scenario: 'data-corruption', scenarioTitle: 'Data corruption', outcome: 'succeeded', passed: true, reasons: [], notes: [] });
    expect(drill?.achievedRtoMs).toBe(21 * S);
    expect(drill?.durationMs).toBe(50 * S);
    expect(drill?.measuredRpoMs).toBe(300 * S);
    expect(drill?.rpoStepId).toBe('measure');
    expect([drill?.rtoObjectiveMs, drill?.rpoObjectiveMs]).toEqual([60 * S, 600 * S]);
    expect(drill?.channelId).toBe('C0DRILL001');
    expect(drill?.steps.map((s) => [s.stepId, s.state, s.durationMs, s.cleanup ?? false])).toEqual([
      ['restore', 'succeeded', 20 * S, false],
      ['measure', 'succeeded', 1 * S, false],
      ['cleanup', 'succeeded', 29 * S, true],
    ]);
  });

  it('the largest of several measured RPOs counts, a number given as text too; none at all passes with the note "RPO not measured"', () => {
    const two = drillRun({ steps: { restore: done(0, 20, { measuredRpoSeconds: '420' }), measure: done(20, 21, { measuredRpoSeconds: 300 }), cleanup: done(21, 50) } });
    expect(scoreDrill(two, 'data-corruption', objectives, T0)).toMatchObject({ measuredRpoMs: 420 * S, rpoStepId: 'restore', passed: true });
    const none = scoreDrill(drillRun({ steps: { restore: done(0, 20), measure: done(20, 21, { measuredRpoSeconds: 'n/a' }), cleanup: done(21, 50) } }), 'data-corruption', objectives, T0);
    expect(none?.measuredRpoMs).toBeUndefined();
    expect(none?.passed).toBe(true);
    expect(none?.notes).toEqual(['RPO not measured: no step reported measuredRpoSeconds']);
  });

  it('an RTO or an RPO over its objective fails, each with its reason', () => {
    const slow = scoreDrill(drillRun({ steps: { restore: done(0, 80), measure: done(80, 81, { measuredRpoSeconds: 900 }), cleanup: done(81, 90) } }), 'data-corruption', objectives, T0);
    expect(slow?.passed).toBe(false);
    expect(slow?.reasons).toEqual(['RTO missed: recovered in 1m 21s, the objective is 1m', 'RPO missed: 15m of data lost (measured by step measure), the objective is 10m']);
    const zero = scoreDrill(drillRun(), 'security-breach', objectives, T0);
    expect(zero?.reasons).toEqual(['RPO missed: 5m of data lost (measured by step measure), the objective is 0s (no data loss)']);
  });

  it('a failed run fails with its step and message and has no RTO; a failed cleanup fails it too, but the recovery was achieved', () => {
    const failed = scoreDrill(
      drillRun({ state: 'failed', steps: { restore: { state: 'failed', attempts: 1, startedAt: T0, finishedAt: T0 + 5 * S, error: 'backup nightly-1 is gone' }, measure: { state: 'pending', attempts: 0 }, cleanup: done(5, 9) }, failure: { stepId: 'restore', message: 'backup nightly-1 is gone' }, finishedAt: T0 + 9 * S }),
      'data-corruption',
      objectives,
      T0,
    );
    expect(failed).toMatchObject({ outcome: 'failed', passed: false, reasons: ['the run failed at step restore: backup nightly-1 is gone'] });
    expect(failed?.achievedRtoMs).toBeUndefined();
    expect(failed?.steps[0]).toMatchObject({ stepId: 'restore', state: 'failed', error: 'backup nightly-1 is gone', durationMs: 5 * S });

    const cleanup = scoreDrill(drillRun({ state: 'failed', failure: { stepId: 'cleanup', message: 'namespace stuck (a cleanup step; the main steps succeeded)' } }), 'data-corruption', objectives, T0);
    expect(cleanup?.achievedRtoMs).toBe(21 * S);
    expect(cleanup?.reasons).toEqual(['the run failed at step cleanup: namespace stuck (a cleanup step; the main steps succeeded)']);
  });

  it('a cancelled run fails, saying during which step and by whom', () => {
    const cancelled = scoreDrill(
      drillRun({
        state: 'cancelled',
        steps: { restore: { state: 'cancelled', attempts: 1, startedAt: T0, finishedAt: T0 + 3 * S }, measure: { state: 'pending', attempts: 0 }, cleanup: done(3, 4) },
        ending: { outcome: 'cancelled', stepId: 'restore', interrupted: true },
        decision: { by: { id: 'U0BOB00001', name: 'bob', via: 'slack' }, at: T0 + 3 * S, reason: 'wrong cluster' },
      }),
      'data-corruption',
      objectives,
      T0,
    );
    expect(cancelled).toMatchObject({ outcome: 'cancelled', passed: false, reasons: ['the run was cancelled during step restore by bob (wrong cluster)'] });
  });

  it('is no drill: a dry run, a run still going, one that never started', () => {
    expect(scoreDrill(drillRun({ dryRun: true }), 'data-corruption', objectives, T0)).toBeUndefined();
    expect(scoreDrill(drillRun({ state: 'running' }), 'data-corruption', objectives, T0)).toBeUndefined();
    const notStarted: Run = { ...drillRun({ state: 'cancelled' }), startedAt: undefined };
    expect(scoreDrill(notStarted, 'data-corruption', objectives, T0)).toBeUndefined();
    expect(scoreDrill(drillRun({ state: 'rejected' }), 'data-corruption', objectives, T0)).toBeUndefined();
  });
});

describe('src/drills knows no Slack', () => {
  const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
  const DRILLS = join(SRC, 'drills');
  const importsOf = (file: string) =>
    ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.filter((f) => f.fileName.startsWith('.'))
      .map((f) => relative(SRC, resolve(dirname(file), f.fileName)).split('\\').join('/'));
  const files = readdirSync(DRILLS).filter((f) => f.endsWith('.ts')).map((f) => join(DRILLS, f));

  it('reads the imports it checks', () => {
    expect(importsOf(join(DRILLS, 'follower.ts'))).toContain('runs/events.ts');
  });

  it('imports nothing from src/slack: the report is shared by an injected function', () => {
    expect(files.flatMap((f) => importsOf(f).filter((d) => d.startsWith('slack/')).map((d) => `${relative(SRC, f)} → ${d}`))).toEqual([]);
  });
});
