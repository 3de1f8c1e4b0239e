import { describe, expect, it } from 'vitest';
import { parseRef, resolveRefs } from '../../../src/runbooks/refs.ts';

describe('${{ run.incidentId }}', () => {
  it('is the incident the run was requested in, and empty when it has none', () => {
    expect(parseRef('run.incidentId')).toEqual({ kind: 'run', field: 'incidentId' });
    const withIncident = { params: {}, outputs: {}, run: { id: 'rabc', shortId: 'rabc', incidentId: 'inc-42' } };
    expect(resolveRefs({ incident: '${{ run.incidentId }}', note: 'for ${{ run.incidentId }} by ${{ run.id }}' }, withIncident)).toEqual({ incident: 'inc-42', note: 'for inc-42 by rabc' });
    const without = { params: {}, outputs: {}, run: { id: 'rabc', shortId: 'rabc' } };
    expect(resolveRefs('${{ run.incidentId }}', without)).toBe('');
    expect(parseRef('run.incident')).toBeUndefined();
  });
});
