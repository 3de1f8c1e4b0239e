import { describe, expect, it } from 'vitest';
import { isUserError } from '../../../src/errors.ts';
import { bindParams, parseTime } from '../../../src/runbooks/params.ts';
import { resolveRefs } from '../../../src/runbooks/refs.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');

describe('parameter binding', () => {
  const runbook = {
    id: 'restore-db',
    params: {
      cluster: { type: 'string' as const, pattern: '[a-z][a-z0-9-]*', maxLength: 63 },
      to: { type: 'time' as const, allowLatest: true, default: 'latest' },
      replicas: { type: 'integer' as const, min: 0, max: 5, default: 1 },
      copy: { type: 'enum' as const, values: ['full-copy', 'copy-on-write'], default: 'copy-on-write' },
      force: { type: 'boolean' as const, default: false },
      within: { type: 'duration' as const, default: '15m' },
    },
  };

  it('types every value and fills defaults', () => {
    expect(bindParams(runbook, { cluster: 'prod-aurora', to: '15m ago', replicas: '2', force: 'yes' }, NOW)).toEqual({
      cluster: 'prod-aurora',
      to: '2026-11-25T11:45:00.000Z',
      replicas: 2,
      copy: 'copy-on-write',
      force: true,
      within: 900_000,
    });
  });

  it('reports every problem at once with how to write it', () => {
    let message = '';
    try {
      bindParams(runbook, { cluster: 'Prod_DB; DROP', replicas: '2.5', copy: 'clone', force: 'maybe', within: 'soon', extra: '1' }, NOW);
    } catch (err) {
      if (isUserError(err)) message = err.message;
    }
    expect(message.split('\n')).toEqual([
      'Parameters for restore-db are not valid:',
      '• `extra` is not a parameter of restore-db (parameters: cluster, to, replicas, copy, force, within)',
      '• `cluster`: `Prod_DB; DROP` does not match [a-z][a-z0-9-]*',
      '• `replicas`: `2.5` is not a whole number',
      '• `copy`: `clone` is not one of full-copy, copy-on-write',
      '• `force`: `maybe` is not true or false',
      '• `within`: `soon` is not a duration like 30s, 15m or 2h',
    ]);
  });

  it('says a required parameter is missing, with an example', () => {
    expect(() => bindParams(runbook, {}, NOW)).toThrow('`cluster` is required: string, e.g. `cluster=prod-aurora`');
  });
});

describe('times', () => {
  it('accepts ISO-8601 with a zone and normalizes to UTC', () => {
    expect(parseTime('2026-11-15T10:00:00+01:00', NOW, false)).toEqual({ ok: true, value: '2026-11-15T09:00:00.000Z' });
    expect(parseTime('2026-11-15 10:00Z', NOW, false)).toEqual({ ok: true, value: '2026-11-15T10:00:00.000Z' });
  });

  it('refuses a time without a zone instead of guessing it', () => {
    expect(parseTime('2026-11-15T10:00:00', NOW, false)).toEqual({
      ok: false,
      problem: '`2026-11-15T10:00:00` has no time zone: add Z for UTC (2026-11-15T10:00:00Z) or an offset like +01:00',
    });
  });

  it('accepts relative forms, now, and latest only where allowed', () => {
    expect(parseTime('2h ago', NOW, false)).toEqual({ ok: true, value: '2026-11-25T10:00:00.000Z' });
    expect(parseTime('now', NOW, false)).toEqual({ ok: true, value: '2026-11-25T12:00:00.000Z' });
    expect(parseTime('latest', NOW, true)).toEqual({ ok: true, value: 'latest' });
    expect(parseTime('latest', NOW, false).ok).toBe(false);
  });

  it('refuses impossible dates and nonsense with an example', () => {
    expect(parseTime('2026-02-30T10:00:00Z', NOW, false).ok).toBe(false);
    expect(parseTime('yesterday', NOW, true)).toEqual({
      ok: false,
      problem: '`yesterday` is not a time: use ISO-8601 with a zone, e.g. 2026-11-25T12:00:00Z, or a relative time like 15m ago, or latest',
    });
  });
});

describe('references', () => {
  const scope = { params: { cluster: 'prod', replicas: 2 }, outputs: { restore: { endpoint: 'db.internal' } }, run: { id: 'rabc', shortId: 'rabc' } };

  it('keeps the type of a whole-value reference and interpolates inside text', () => {
    expect(resolveRefs({ n: '${{ params.replicas }}', name: '${{ params.cluster }}-dr-${{ run.shortId }}' }, scope)).toEqual({
      n: 2,
      name: 'prod-dr-rabc',
    });
    expect(resolveRefs(['${{ steps.restore.outputs.endpoint }}'], scope)).toEqual(['db.internal']);
  });

  it('defers outputs not produced yet when planning, and refuses them when running', () => {
    expect(resolveRefs('${{ steps.later.outputs.x }}', scope, true)).toBe('‹steps.later.outputs.x›');
    expect(() => resolveRefs('${{ steps.later.outputs.x }}', scope)).toThrow('step later has no output x');
  });
});
