import { createHash } from 'node:crypto';
import type { Runbook } from './schema.ts';

/**
 * A runbook's definition as loaded (src/runbooks/load.ts), as a SHA-256 of
 * its JSON with keys in a fixed order: the same file loaded again gives the
 * same digest, any change to what it does (a step, a parameter, a target,
 * its approval rules) gives another. Comments and layout are not part of the
 * definition. An approval of a schedule covers this digest.
 */
export function runbookDigest(runbook: Runbook): string {
  return `sha256:${createHash('sha256').update(canonicalJson(runbook), 'utf8').digest('hex')}`;
}

/** JSON with every object's keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
