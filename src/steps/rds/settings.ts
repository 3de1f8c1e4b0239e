import type { DBCluster, DBClusterSnapshot, ServerlessV2ScalingConfiguration } from '@aws-sdk/client-rds';
import { z } from 'zod';

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

/** Step parameters that override what is copied from the source. */
export const settingsParams = {
  /** The cluster parameter group of the new cluster (default: the source's). */
  parameterGroup: z.string().regex(/^[a-zA-Z][a-zA-Z0-9.-]{0,254}$/, 'must be a DB cluster parameter group name').optional(),
  port: z.number().int().min(1150).max(65535).optional(),
  iamAuth: z.boolean().optional(),
  deletionProtection: z.boolean().optional(),
  /** Log types to export to CloudWatch Logs, e.g. [postgresql]; [] for none. */
  logExports: z.array(z.string().regex(/^[a-z-]+$/, 'must be a log type like postgresql')).optional(),
  copyTagsToSnapshot: z.boolean().optional(),
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
 * Each member from the step's parameters if given, else from the first of
 * `from` that has it (e.g. the source cluster, then the snapshot).
 * `logExports: []` asks for no exports and sends nothing (RDS's default is none).
 */
export function chooseSettings(overrides: SettingsOverrides, from: { label: string; settings: RestoreSettings }[]): ChosenSettings {
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
    note(`copied from ${origin.label}`, describe(key, origin.settings));
  }
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
