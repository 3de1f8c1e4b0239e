import type { DBCluster, DBClusterSnapshot, ServerlessV2ScalingConfiguration } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { FROM_SOURCE } from '../../targets/aws-ids.ts';

/**
 * Restores do not inherit settings: RestoreDBClusterToPointInTime and
 * RestoreDBClusterFromSnapshot take their defaults for every member left out
 * (API-FACTS 7.1). These are the members a replacement cluster needs to be
 * used like its source, named as the restore requests name them.
 */
export interface RestoreSettings {
  DBClusterParameterGroupName?: string;
  Port?: number;
  EnableIAMDatabaseAuthentication?: boolean;
  DeletionProtection?: boolean;
  EnableCloudwatchLogsExports?: string[];
  CopyTagsToSnapshot?: boolean;
  /** Without it RDS refuses a `db.serverless` instance in the restored cluster. */
  ServerlessV2ScalingConfiguration?: ServerlessV2ScalingConfiguration;
}

type Key = keyof RestoreSettings;
const KEYS: readonly Key[] = [
  'DBClusterParameterGroupName',
  'Port',
  'EnableIAMDatabaseAuthentication',
  'DeletionProtection',
  'EnableCloudwatchLogsExports',
  'CopyTagsToSnapshot',
  'ServerlessV2ScalingConfiguration',
];

/** `source` (a runbook's default): the source's own, the same as leaving the parameter out. */
const orFromSource = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === FROM_SOURCE ? undefined : v), schema.optional());
/** A switch: true or false, or on or off as a runbook's enum gives it. */
const onOrOff = z.union([z.boolean(), z.enum(['on', 'off']).transform((v) => v === 'on')]);

/** Step parameters that override what is copied from the source. */
export const settingsParams = {
  /** The cluster parameter group of the new cluster (default: the source's; RDS's default when there is no source to copy it from). */
  parameterGroup: orFromSource(z.string().regex(/^[a-zA-Z][a-zA-Z0-9.-]{0,254}$/, 'must be a DB cluster parameter group name (a letter, then letters, digits, dots or hyphens)')),
  port: z.number().int().min(1150).max(65535).optional(),
  iamAuth: z.boolean().optional(),
  /** Default: the source's; on when there is no source to copy it from (SAFE_DEFAULTS). */
  deletionProtection: orFromSource(onOrOff),
  /** Log types to export to CloudWatch Logs, e.g. [postgresql]; [] for none. */
  logExports: z.array(z.string().regex(/^[a-z-]+$/, 'must be a log type like postgresql')).optional(),
  /** Default: the source's; on when there is no source to copy it from (SAFE_DEFAULTS). */
  copyTagsToSnapshot: orFromSource(onOrOff),
  serverlessV2: z
    .object({ minCapacity: z.number().min(0).max(256), maxCapacity: z.number().min(1).max(256) })
    .refine((s) => s.minCapacity <= s.maxCapacity, 'minCapacity must not exceed maxCapacity')
    .optional(),
};

export type SettingsOverrides = { [K in keyof typeof settingsParams]?: z.infer<(typeof settingsParams)[K]> };

/** The settings a cluster has, as restore request members. */
export function settingsOfCluster(c: DBCluster): RestoreSettings {
  const sv2 = c.ServerlessV2ScalingConfiguration;
  return {
    DBClusterParameterGroupName: c.DBClusterParameterGroup,
    Port: c.Port,
    EnableIAMDatabaseAuthentication: c.IAMDatabaseAuthenticationEnabled,
    DeletionProtection: c.DeletionProtection,
    EnableCloudwatchLogsExports: c.EnabledCloudwatchLogsExports?.length ? [...c.EnabledCloudwatchLogsExports] : undefined,
    CopyTagsToSnapshot: c.CopyTagsToSnapshot,
    ServerlessV2ScalingConfiguration:
      sv2?.MinCapacity !== undefined && sv2.MaxCapacity !== undefined
        ? {
            MinCapacity: sv2.MinCapacity,
            MaxCapacity: sv2.MaxCapacity,
            ...(sv2.SecondsUntilAutoPause !== undefined ? { SecondsUntilAutoPause: sv2.SecondsUntilAutoPause } : {}),
          }
        : undefined,
  };
}

/** What a cluster snapshot records of these settings (its port and IAM authentication). */
export function settingsOfSnapshot(s: DBClusterSnapshot): RestoreSettings {
  return { Port: s.Port, EnableIAMDatabaseAuthentication: s.IAMDatabaseAuthenticationEnabled };
}

function overridden(o: SettingsOverrides): RestoreSettings {
  return {
    DBClusterParameterGroupName: o.parameterGroup,
    Port: o.port,
    EnableIAMDatabaseAuthentication: o.iamAuth,
    DeletionProtection: o.deletionProtection,
    EnableCloudwatchLogsExports: o.logExports,
    CopyTagsToSnapshot: o.copyTagsToSnapshot,
    ServerlessV2ScalingConfiguration: o.serverlessV2 ? { MinCapacity: o.serverlessV2.minCapacity, MaxCapacity: o.serverlessV2.maxCapacity } : undefined,
  };
}

export interface ChosenSettings {
  /** Members for the restore request; members with no value are left out (RDS's default). */
  request: RestoreSettings;
  /** For the plan, e.g. `copied from prod-aurora: port 5432, ...; given: deletion protection off`. */
  summary: string;
}

/**
 * What a replacement cluster gets when neither the parameters nor a source
 * say (the source cluster was deleted; a snapshot records neither): RDS's own
 * defaults are off, which would leave a production database one call from
 * deletion and its snapshots untagged. docs/decisions.md.
 */
export const SAFE_DEFAULTS: Readonly<RestoreSettings> = { DeletionProtection: true, CopyTagsToSnapshot: true };

/**
 * Each member from the step's parameters if given, else from the first of
 * `from` that has it (e.g. the source cluster, then the snapshot), else from
 * SAFE_DEFAULTS; the summary says where each came from, and names a cluster
 * parameter group left to RDS's default.
 * `logExports: []` asks for no exports and sends nothing (RDS's default is none).
 */
export function chooseSettings(overrides: SettingsOverrides, sources: { label: string; settings: RestoreSettings }[]): ChosenSettings {
  const from = [...sources.map((f) => ({ heading: `copied from ${f.label}`, settings: f.settings })), { heading: 'safe default', settings: SAFE_DEFAULTS }];
  const given = overridden(overrides);
  const request: RestoreSettings = {};
  const put = <K extends Key>(k: K, v: RestoreSettings[K]) => {
    request[k] = v;
  };
  const groups = new Map<string, string[]>();
  const note = (label: string, text: string) => groups.set(label, [...(groups.get(label) ?? []), text]);
  for (const key of KEYS) {
    const value = given[key];
    if (value !== undefined) {
      note('given', describe(key, given));
      if (!(Array.isArray(value) && value.length === 0)) put(key, value);
      continue;
    }
    const origin = from.find((f) => f.settings[key] !== undefined);
    if (!origin) continue;
    put(key, origin.settings[key]);
    note(origin.heading, describe(key, origin.settings));
  }
  if (request.DBClusterParameterGroupName === undefined) note("RDS's default", 'cluster parameter group (the engine\'s default.* group; give parameterGroup to use yours)');
  const summary = [...groups].map(([label, items]) => `${label}: ${items.join(', ')}`).join('; ');
  return { request, summary: summary || 'no settings copied (RDS defaults)' };
}

function onOff(v: boolean | undefined): string {
  return v ? 'on' : 'off';
}

function describe(key: Key, s: RestoreSettings): string {
  switch (key) {
    case 'DBClusterParameterGroupName':
      return `cluster parameter group ${s.DBClusterParameterGroupName ?? ''}`;
    case 'Port':
      return `port ${s.Port ?? ''}`;
    case 'EnableIAMDatabaseAuthentication':
      return `IAM authentication ${onOff(s.EnableIAMDatabaseAuthentication)}`;
    case 'DeletionProtection':
      return `deletion protection ${onOff(s.DeletionProtection)}`;
    case 'EnableCloudwatchLogsExports':
      return `log exports ${s.EnableCloudwatchLogsExports?.length ? s.EnableCloudwatchLogsExports.join('+') : 'none'}`;
    case 'CopyTagsToSnapshot':
      return `copy tags to snapshots ${onOff(s.CopyTagsToSnapshot)}`;
    case 'ServerlessV2ScalingConfiguration':
      return `Serverless v2 ${s.ServerlessV2ScalingConfiguration?.MinCapacity ?? '?'}-${s.ServerlessV2ScalingConfiguration?.MaxCapacity ?? '?'} ACU`;
  }
}
