import type { KubeApis } from '../../targets/kube.ts';
import { isPending } from '../kube/scope.ts';
import { PermanentStepError, type PlanLine } from '../types.ts';
import { volumeSnapshots } from './backup.ts';
import { CHANGES_SUMMARY, type DrillConfig, LEFT_OUT_SUMMARY, missingConfig, namesOf, readDrillConfig, type SourceNeeds, sourceNeeds } from './drill.ts';
import type { Backup } from './objects.ts';
import { mappingOf, type RestoreParams } from './restore-params.ts';

export interface DrillPlan {
  /** Appended to the restore's plan line: what the drill restores, leaves out and changes. */
  restoreDetail: string;
  /** The drill configuration: what is copied, what is missing. */
  lines: PlanLine[];
}

const list = (names: readonly string[]) => names.join(', ') || 'none';

/**
 * What an isolated restore will do, from the source namespaces as they are now
 * (the backup's copy of them is in object storage, which the bot does not read):
 * the configuration the workloads reference and whether the drill
 * configuration has it, and the PVCs an isolated restore leaves out.
 */
export async function drillPlan(api: KubeApis, p: RestoreParams, b: Backup): Promise<DrillPlan> {
  const sources = (p.includedNamespaces ?? []).filter((ns) => ns !== '*');
  const needs: SourceNeeds = { secrets: new Map(), configMaps: new Map(), claims: new Map() };
  // A namespace known only from an earlier step's output cannot be read yet.
  for (const ns of sources.filter((s) => !isPending(s))) {
    const n = await sourceNeeds(api, ns);
    for (const key of ['secrets', 'configMaps', 'claims'] as const) for (const [k, v] of n[key]) needs[key].set(k, [...(needs[key].get(k) ?? []), ...v]);
  }
  const claims = [...needs.claims].map(([claim, who]) => `${claim}${who.length ? ` (${who.join(', ')})` : ''}`);
  if (p.includeVolumes && claims.length && volumeSnapshots(b) === 0) {
    throw new PermanentStepError(
      `backup ${b.metadata.name} holds no volume snapshots, so restoring the PVCs ${list(claims)} would bind them to production's retained volumes or leave them unbound (their pods Pending); drill without includeVolumes, or from a backup with volume snapshots`,
    );
  }
  const volumes = p.includeVolumes
    ? `restores PVCs and PVs from the backup's ${volumeSnapshots(b)} volume snapshots`
    : claims.length
      ? `PVCs left out: ${list(claims)}: workloads that mount them stay Pending (set includeVolumes with a backup that has volume snapshots)`
      : 'no PVCs to leave out';
  const restoreDetail =
    `isolated drill: restores the other objects of ${list(sources)} (workloads, Services, ServiceAccounts, …); ` +
    `leaves out ${LEFT_OUT_SUMMARY}${p.includeVolumes ? '' : ', PersistentVolumeClaims, PersistentVolumes'}; ${volumes}; changes: ${CHANGES_SUMMARY}`;

  const targets = [...new Set(sources.map((ns) => mappingOf(p)[ns] ?? ns))].join(', ');
  const config: DrillConfig | undefined = p.configFrom && !isPending(p.configFrom) ? await readDrillConfig(api, p.configFrom) : undefined;
  const missing = missingConfig(needs, config);
  const missingNote = missing.length ? `; the restored workloads reference ${list(missing)}, which ${p.configFrom ? `${p.configFrom} lacks` : 'nothing provides'}: their pods will not start` : '';
  const detail = configDetail(p.configFrom, config, targets, missingNote);
  return { restoreDetail, lines: [{ action: 'create', resource: `drill configuration in ${targets}`, detail }] };
}

/** What happens to the drill's configuration, in words. */
function configDetail(configFrom: string | undefined, config: DrillConfig | undefined, targets: string, missingNote: string): string {
  const notRestored = `production's are not restored into ${targets}`;
  if (configFrom && isPending(configFrom)) return `copy the Secrets and ConfigMaps of ${configFrom} into ${targets}; ${notRestored}`;
  if (!configFrom || !config) return `no drill configuration (configFrom): ${notRestored}${missingNote}`;
  if (!config.secrets.length && !config.configMaps.length) return `copy nothing: ${configFrom} holds no Secrets or ConfigMaps (does the namespace exist?); ${notRestored}${missingNote}`;
  return `copy Secrets ${list(namesOf(config.secrets))} and ConfigMaps ${list(namesOf(config.configMaps))} from ${configFrom} into ${targets} (production's are not restored)${missingNote}`;
}
