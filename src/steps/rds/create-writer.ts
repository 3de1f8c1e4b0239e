import { CreateDBInstanceCommand, type CreateDBInstanceCommandInput, type DBInstance, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type StepContext } from '../types.ts';
import { classifyAwsError, describeCluster, isAwsError, mustDescribeCluster, RUN_TAG, CLUSTER_ID, rdsId, sameRdsId } from './aws.ts';
import { lookAtState } from './states.ts';

async function describeInstance(rds: RDSClient, id: string): Promise<DBInstance | undefined> {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
  } catch (err) {
    if (isAwsError(err, 'DBInstanceNotFoundFault')) return undefined;
    throw classifyAwsError(err, `describing instance ${id}`);
  }
}

/** `source`'s writer instance: the restored cluster's writer gets its class and settings. */
async function sourceWriterOf(rds: RDSClient, source: string): Promise<{ gone: true } | { gone: false; writer: DBInstance | undefined }> {
  const cluster = await describeCluster(rds, source);
  // A deleted source (restored from its final snapshot) has no writer to copy from.
  if (!cluster) return { gone: true };
  const writer = cluster.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
  return { gone: false, writer: writer ? await describeInstance(rds, writer) : undefined };
}

/** `instanceClass: same-as-source`: take the class of `copyClassFrom`'s writer (runbooks can default to it). */
const SAME_AS_SOURCE = 'same-as-source';

type CopiedSettings = Pick<
  CreateDBInstanceCommandInput,
  'DBParameterGroupName' | 'MonitoringInterval' | 'MonitoringRoleArn' | 'EnablePerformanceInsights' | 'PerformanceInsightsKMSKeyId' | 'PerformanceInsightsRetentionPeriod'
>;

/**
 * The writer settings CreateDBInstance does not inherit from anything (it
 * takes documented defaults: the engine's default DB parameter group, no
 * enhanced monitoring, no Performance Insights), copied from the source
 * writer when it sets them. A `default.*` parameter group is what the default
 * would be anyway, and is not copied (its family may not fit a newer engine).
 */
function settingsOf(source: DBInstance | undefined): { settings: CopiedSettings; copied: string[] } {
  const settings: CopiedSettings = {};
  const copied: string[] = [];
  const group = source?.DBParameterGroups?.[0]?.DBParameterGroupName;
  if (group && !group.startsWith('default.')) {
    settings.DBParameterGroupName = group;
    copied.push(`DB parameter group ${group}`);
  }
  if (source?.MonitoringInterval && source.MonitoringRoleArn) {
    settings.MonitoringInterval = source.MonitoringInterval;
    settings.MonitoringRoleArn = source.MonitoringRoleArn;
    copied.push(`enhanced monitoring every ${source.MonitoringInterval}s`);
  }
  if (source?.PerformanceInsightsEnabled) {
    settings.EnablePerformanceInsights = true;
    if (source.PerformanceInsightsKMSKeyId) settings.PerformanceInsightsKMSKeyId = source.PerformanceInsightsKMSKeyId;
    if (source.PerformanceInsightsRetentionPeriod) settings.PerformanceInsightsRetentionPeriod = source.PerformanceInsightsRetentionPeriod;
    copied.push(`Performance Insights${source.PerformanceInsightsRetentionPeriod ? ` (${source.PerformanceInsightsRetentionPeriod} days)` : ''}`);
  }
  return { settings, copied };
}

/** What the writer is made from: its class and the settings copied from the source writer. */
async function writerSpec(rds: RDSClient, p: { instanceClass?: string; copyClassFrom?: string }): Promise<{ instanceClass: string; settings: CopiedSettings; note: string }> {
  const found = p.copyClassFrom ? await sourceWriterOf(rds, p.copyClassFrom) : undefined;
  const source = found && !found.gone ? found.writer : undefined;
  const given = p.instanceClass === SAME_AS_SOURCE ? undefined : p.instanceClass;
  if (found?.gone && !given) {
    throw new PermanentStepError(`${p.copyClassFrom ?? ''} no longer exists, so its writer's class cannot be copied: give the writer's class (e.g. writerClass=db.r6g.large in restore-database-snapshot)`);
  }
  const instanceClass = given ?? source?.DBInstanceClass;
  if (!instanceClass) throw new PermanentStepError(`${p.copyClassFrom ?? ''} has no writer instance to copy the class from; give instanceClass`);
  const { settings, copied } = settingsOf(source);
  const from = found?.gone ? `nothing (${p.copyClassFrom ?? ''} no longer exists)` : p.copyClassFrom ? `${p.copyClassFrom}'s writer` : 'no source writer (copyClassFrom not given)';
  const note = copied.length
    ? `copies from ${from}: ${copied.join(', ')}`
    : `copies no DB parameter group, monitoring or Performance Insights from ${from}; RDS defaults apply`;
  return { instanceClass, settings, note };
}

function writerName(cluster: string): string {
  return rdsId(`${cluster.slice(0, 63 - '-writer'.length).replace(/-+$/, '')}-writer`);
}

/** `name`: the step waits for its cluster twice (before and after the writer), each wait named apart so a park resumes the right one. */
async function waitForCluster(ctx: StepContext, rds: RDSClient, id: string, name: string): Promise<void> {
  await pollUntil(ctx, {
    what: `cluster ${id} to be available`,
    name,
    check: async () => lookAtState('DB cluster', id, (await mustDescribeCluster(rds, id)).Status ?? 'unknown'),
  });
}

/**
 * `rds.create-writer`: a restored Aurora cluster has no DB instances. Waits
 * until the cluster is available, creates its writer (`<cluster>-writer`, same
 * engine, the source writer's class unless given, and the source writer's DB
 * parameter group, monitoring and Performance Insights settings), waits until
 * both are available, and outputs the writer endpoint. A terminal state
 * (see states.ts) ends the waits at once.
 * Reads: DescribeDBClusters, DescribeDBInstances. Changes: CreateDBInstance.
 * Idempotency: creating the writer (or adopting one already there) is a
 * checkpoint (`create-writer`): entered again after a park, the step waits
 * on without another CreateDBInstance. Behind it, the instance name is fixed
 * (lowercase, as RDS stores it) and an existing instance in this cluster is
 * adopted. Its three waits park: a restore's 30 minutes hold no worker.
 */
export function createWriterStep() {
  return defineStep({
    id: 'rds.create-writer',
    // Its one change is a checkpoint; everything else is a read.
    resumable: true,
    summary: 'Create the writer instance of a restored cluster and wait until it is available',
    params: z.object({
      cluster: CLUSTER_ID,
      instanceClass: z
        .string()
        .regex(/^(db\.(serverless|[a-z0-9]+\.[a-z0-9]+)|same-as-source)$/, 'must be a class like db.r6g.large, db.serverless, or same-as-source (with copyClassFrom)')
        .optional(),
      /** Copy the instance class (unless given) and the writer's settings from this cluster's writer. */
      copyClassFrom: CLUSTER_ID.optional(),
    }),
    outputs: ['writerEndpoint', 'readerEndpoint', 'port', 'instanceId'],
    async plan(ctx, p) {
      if ((!p.instanceClass || p.instanceClass === SAME_AS_SOURCE) && !p.copyClassFrom) throw new PermanentStepError('give instanceClass, or copyClassFrom to use the source writer\'s class');
      const { instanceClass, note } = await writerSpec(ctx.aws.rds(), p);
      const cluster = isPlaceholder(p.cluster) ? 'the restored cluster' : rdsId(p.cluster);
      return [
        { action: 'create', resource: `rds instance ${isPlaceholder(p.cluster) ? '<restored cluster>-writer' : writerName(p.cluster)}`, detail: `create the writer of ${cluster} (${instanceClass}); ${note}` },
        { action: 'wait', resource: `rds cluster ${cluster}`, detail: `wait until ${cluster} and its writer are available` },
      ];
    },
    async run(ctx, p) {
      const client = ctx.aws.rds();
      const clusterId = rdsId(p.cluster);
      await waitForCluster(ctx, client, clusterId, 'cluster-available');
      const cluster = await mustDescribeCluster(client, clusterId);
      const id = writerName(clusterId);
      const refuseForeign = (instance: DBInstance | undefined): void => {
        if (instance && !sameRdsId(instance.DBClusterIdentifier, clusterId)) {
          throw new PermanentStepError(`a DB instance named ${id} already exists in another cluster (${instance.DBClusterIdentifier ?? '?'})`);
        }
      };
      const existing = await describeInstance(client, id);
      refuseForeign(existing);
      await ctx.once('create-writer', async () => {
        if (existing) return;
        const { instanceClass, settings, note } = await writerSpec(client, p);
        ctx.progress(`creating writer ${id} (${instanceClass}); ${note}`);
        try {
          await client.send(
            new CreateDBInstanceCommand({
              DBInstanceIdentifier: id,
              DBClusterIdentifier: clusterId,
              DBInstanceClass: instanceClass,
              Engine: cluster.Engine,
              ...settings,
              Tags: [{ Key: RUN_TAG, Value: ctx.runId }],
            }),
          );
        } catch (err) {
          // An SDK retry after a lost answer meets the instance the first try made: it is ours.
          if (!isAwsError(err, 'DBInstanceAlreadyExistsFault')) throw classifyAwsError(err, `creating writer ${id}`);
          refuseForeign(await describeInstance(client, id));
        }
      });
      await pollUntil(ctx, {
        what: `writer ${id} to be available`,
        name: 'writer-available',
        check: async () => lookAtState('DB instance', id, (await describeInstance(client, id))?.DBInstanceStatus),
      });
      await waitForCluster(ctx, client, clusterId, 'cluster-available-with-writer');
      const ready = await mustDescribeCluster(client, clusterId);
      return {
        writerEndpoint: ready.Endpoint ?? '',
        readerEndpoint: ready.ReaderEndpoint ?? '',
        port: ready.Port ?? 5432,
        instanceId: id,
      };
    },
  });
}
