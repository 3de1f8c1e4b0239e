/**
 * The disaster scenarios of the DR plan, with their recovery targets
 * (DR-PLAN.md, "Disaster Scenarios"). RTO: maximum acceptable downtime;
 * RPO: maximum acceptable data loss.
 */
export const SCENARIOS = {
  'single-az-failure': { title: 'Single AZ failure', rtoMs: 5 * 60_000, rpoMs: 0 },
  'region-outage': { title: 'Region-wide outage', rtoMs: 4 * 3_600_000, rpoMs: 15 * 60_000 },
  'data-corruption': { title: 'Data corruption', rtoMs: 2 * 3_600_000, rpoMs: 3_600_000 },
  'security-breach': { title: 'Security breach', rtoMs: 8 * 3_600_000, rpoMs: 0 },
  'accidental-deletion': { title: 'Accidental deletion', rtoMs: 3_600_000, rpoMs: 15 * 60_000 },
  'complete-infrastructure-loss': { title: 'Complete infrastructure loss', rtoMs: 24 * 3_600_000, rpoMs: 3_600_000 },
} as const;

export type ScenarioId = keyof typeof SCENARIOS;
export const SCENARIO_IDS = Object.keys(SCENARIOS) as [ScenarioId, ...ScenarioId[]];

/** Every scenario's recovery targets in force: the DR plan's, with the team's overrides. */
export type ScenarioTargets = Readonly<Record<ScenarioId, { readonly title: string; readonly rtoMs: number; readonly rpoMs: number }>>;

export function scenarioTargets(overrides: Partial<Record<ScenarioId, { rtoMs: number; rpoMs: number }>> = {}): ScenarioTargets {
  return Object.fromEntries(SCENARIO_IDS.map((id) => [id, { ...SCENARIOS[id], ...overrides[id] }])) as unknown as ScenarioTargets;
}
