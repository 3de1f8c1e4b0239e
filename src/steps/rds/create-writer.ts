import { CreateDBInstanceCommand, type DBInstance, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import { z } from 'zod';
import { isPlaceholder } from '../../engine/bind.ts';
import { pollUntil } from '../poll.ts';
import { defineStep, PermanentStepError, type StepContext } from '../types.ts';
import { awsCode, classifyAwsError, mustDescribeCluster, RUN_TAG, CLUSTER_ID } from './aws.ts';


async function describeInstance(rds: RDSClient, id: string): Promise<DBInstance | undefined> {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
  } catch (err) {
    if (awsCode(err) === 'DBInstanceNotFound' || awsCode(err) === 'DBInstanceNotFoundFault') return undefined;
    throw classifyAwsError(err, `describing instance ${id}`);
  }
}

/** The instance class of `source`'s writer: the restored cluster gets the same size. */
async function writerClassOf(rds: RDSClient, source: string): Promise<string> {
  const cluster = await mustDescribeCluster(rds, source);
  const writer = cluster.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
  const instance = writer ? await describeInstance(rds, writer) : undefined;
  if (!instance?.DBInstanceClass) throw new PermanentStepError(`${source} has no writer instance to copy the class from; give instanceClass`);
  return instance.DBInstanceClass;
}

function writerName(cluster: string): string {
  return `${cluster.slice(0, 63 - '-writer'.length).replace(/-+$/, '')}-writer`;
}

async function waitForCluster(ctx: StepContext, rds: RDSClient, id: string): Promise<void> {
  await pollUntil(ctx, {
    what: `cluster ${id} to be available`,
    check: async () => {
      const status = (await mustDescribeCluster(rds, id)).Status ?? 'unknown';
      return status === 'available' ? { done: true } : { done: false, state: status };
    },
  });
}

/**
 * `rds.create-writer`: a restored Aurora cluster has no DB instances. Waits
 * until the cluster is available, creates its writer (`<cluster>-writer`, same
 * engine, the source writer's class unless given), waits until both are
 * available, and outputs the writer endpoint.
 * Reads: DescribeDBClusters, DescribeDBInstances. Changes: CreateDBInstance.
 * Idempotency: fixed instance name; an existing instance in this cluster is adopted.
 */
export function createWriterStep(rds: () => RDSClient) {
  return defineStep({
    id: 'rds.create-writer',
    summary: 'Create the writer instance of a restored cluster and wait until it is available',
    params: z.object({
      cluster: CLUSTER_ID,
      instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a class like db.r6g.large').optional(),
      /** Copy the instance class from this cluster's writer when instanceClass is not given. */
      copyClassFrom: CLUSTER_ID.optional(),
    }),
    outputs: ['writerEndpoint', 'readerEndpoint', 'port', 'instanceId'],
    async plan(_ctx, p) {
      if (!p.instanceClass && !p.copyClassFrom) throw new PermanentStepError('give instanceClass, or copyClassFrom to use the source writer\'s class');
      const instanceClass = p.instanceClass ?? (await writerClassOf(rds(), p.copyClassFrom ?? ''));
      const cluster = isPlaceholder(p.cluster) ? 'the restored cluster' : p.cluster;
      return [
        { action: 'create', resource: `rds instance ${isPlaceholder(p.cluster) ? '<restored cluster>-writer' : writerName(p.cluster)}`, detail: `create the writer of ${cluster} (${instanceClass})` },
        { action: 'wait', resource: `rds cluster ${cluster}`, detail: `wait until ${cluster} and its writer are available` },
      ];
    },
    async run(ctx, p) {
      const client = rds();
      await waitForCluster(ctx, client, p.cluster);
      const cluster = await mustDescribeCluster(client, p.cluster);
      const id = writerName(p.cluster);
      const existing = await describeInstance(client, id);
      if (existing && existing.DBClusterIdentifier !== p.cluster) {
        throw new PermanentStepError(`a DB instance named ${id} already exists in another cluster (${existing.DBClusterIdentifier ?? '?'})`);
      }
      if (!existing) {
        const instanceClass = p.instanceClass ?? (await writerClassOf(client, p.copyClassFrom ?? ''));
        ctx.progress(`creating writer ${id} (${instanceClass})`);
        try {
          await client.send(
            new CreateDBInstanceCommand({
              DBInstanceIdentifier: id,
              DBClusterIdentifier: p.cluster,
              DBInstanceClass: instanceClass,
              Engine: cluster.Engine,
              Tags: [{ Key: RUN_TAG, Value: ctx.runId }],
            }),
          );
        } catch (err) {
          if (awsCode(err) !== 'DBInstanceAlreadyExists') throw classifyAwsError(err, `creating writer ${id}`);
        }
      }
      await pollUntil(ctx, {
        what: `writer ${id} to be available`,
        check: async () => {
          const status = (await describeInstance(client, id))?.DBInstanceStatus ?? 'not visible yet';
          return status === 'available' ? { done: true } : { done: false, state: status };
        },
      });
      await waitForCluster(ctx, client, p.cluster);
      const ready = await mustDescribeCluster(client, p.cluster);
      return {
        writerEndpoint: ready.Endpoint ?? '',
        readerEndpoint: ready.ReaderEndpoint ?? '',
        port: ready.Port ?? 5432,
        instanceId: id,
      };
    },
  });
}
