import { DescribeNodegroupCommand, type EKSClient, type Nodegroup, UpdateNodegroupConfigCommand } from '@aws-sdk/client-eks';
import { z } from 'zod';
import { classifyKubeError } from '../kube/api.ts';
import { formatDuration } from '../../util/duration.ts';
import { type PollLook, pollUntil } from '../poll.ts';
import { classifyAwsError } from '../rds/aws.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { EKS_CLUSTER_NAME } from '../../targets/config.ts';
import { DEFAULT_DEGRADED_GRACE_SECONDS, DEGRADED, DegradedClock, describeIssues, nodegroupDeadEnd } from './states.ts';
import { plural } from '../../util/text.ts';

const eksName = z.string().regex(EKS_CLUSTER_NAME, 'must be an EKS name');

async function describe(eks: EKSClient, cluster: string, nodegroup: string): Promise<Nodegroup> {
  try {
    const res = await eks.send(new DescribeNodegroupCommand({ clusterName: cluster, nodegroupName: nodegroup }));
    if (!res.nodegroup) throw new PermanentStepError(`node group ${nodegroup} of ${cluster} was not returned`);
    return res.nodegroup;
  } catch (err) {
    if (err instanceof PermanentStepError) throw err;
    throw classifyAwsError(err, `describing node group ${cluster}/${nodegroup}`);
  }
}

/** The node group cannot be scaled and waited for (a terminal state, a permanent issue): say why, before anything is changed. */
function refuseDeadEnd(cluster: string, nodegroup: string, ng: Nodegroup): void {
  const why = nodegroupDeadEnd({ cluster, nodegroup }, ng);
  if (why) throw new PermanentStepError(`cannot scale EKS node group ${nodegroup} of ${cluster}: ${why}`);
}

/**
 * `eks.scale-nodegroup`: pilot light → full size. Updates a managed node
 * group's scaling config and waits until it is ACTIVE and (with Kubernetes
 * access to that cluster) its nodes are Ready. A node group that will not
 * become ACTIVE (CREATE_FAILED, DELETING, DELETE_FAILED, or DEGRADED with an
 * issue that does not clear by itself) is refused in the plan and ends the
 * wait at once; one DEGRADED otherwise is given `degradedGraceSeconds` (eks/states.ts).
 * Reads: DescribeNodegroup, nodes. Changes: UpdateNodegroupConfig.
 * Idempotency: the run's clientRequestToken makes a repeated call the same
 * update; a node group already at the size is not updated again.
 */
export function scaleNodegroupStep() {
  return defineStep({
    id: 'eks.scale-nodegroup',
    // The size read and the update decide together in one checkpoint; the wait after it parks.
    resumable: true,
    summary: 'Scale an EKS node group and wait until its nodes are ready',
    params: z
      .object({
        cluster: eksName,
        nodegroup: eksName,
        desired: z.number().int().min(0).max(1000),
        min: z.number().int().min(0).max(1000).optional(),
        max: z.number().int().min(1).max(1000).optional(),
        /** Also wait for the nodes to be Ready (needs Kubernetes access to this cluster). */
        waitForNodes: z.boolean().default(true),
        /** How long the node group may stay DEGRADED (capacity, IP addresses) before the wait fails. */
        degradedGraceSeconds: z.number().int().min(0).max(3600).default(DEFAULT_DEGRADED_GRACE_SECONDS),
      })
      .refine((p) => p.min === undefined || p.min <= p.desired, 'min must not exceed desired')
      .refine((p) => p.max === undefined || p.desired <= p.max, 'desired must not exceed max'),
    outputs: ['desired', 'readyNodes'],
    async plan(ctx, p) {
      const ng = await describe(ctx.aws.eks(), p.cluster, p.nodegroup);
      refuseDeadEnd(p.cluster, p.nodegroup, ng);
      const now = ng.scalingConfig ?? {};
      const max = p.max ?? now.maxSize ?? 0;
      if (p.desired > max) throw new PermanentStepError(`desired ${p.desired} exceeds the node group's max size ${max}; give max as well`);
      const degraded = ng.status === DEGRADED ? `; it is DEGRADED now (${describeIssues(ng.health?.issues)}): the wait fails if it stays so for ${formatDuration(p.degradedGraceSeconds * 1_000)}` : '';
      return [
        {
          action: 'change',
          resource: `eks node group ${p.cluster}/${p.nodegroup}`,
          detail: `scale ${p.cluster}/${p.nodegroup} from ${now.minSize ?? '?'}/${now.desiredSize ?? '?'}/${now.maxSize ?? '?'} to ${p.min ?? now.minSize ?? '?'}/${p.desired}/${max} (min/desired/max) and wait for the nodes${degraded}`,
        },
      ];
    },
    async run(ctx, p) {
      const client = ctx.aws.eks();
      // Re-entered after the update (a park, a crash), the node group is not read and judged again: the update stands.
      await ctx.once('update-nodegroup-config', async () => {
        const ng = await describe(client, p.cluster, p.nodegroup);
        refuseDeadEnd(p.cluster, p.nodegroup, ng);
        const now = ng.scalingConfig ?? {};
        const target = { minSize: p.min ?? now.minSize, maxSize: p.max ?? now.maxSize, desiredSize: p.desired };
        if (now.desiredSize === target.desiredSize && now.minSize === target.minSize && now.maxSize === target.maxSize) return false;
        ctx.progress(`scaling ${p.nodegroup} to ${plural(p.desired, 'node')}`);
        try {
          await client.send(
            new UpdateNodegroupConfigCommand({
              clusterName: p.cluster,
              nodegroupName: p.nodegroup,
              scalingConfig: target,
              clientRequestToken: ctx.idempotencyKey,
            }),
          );
        } catch (err) {
          throw classifyAwsError(err, `scaling node group ${p.cluster}/${p.nodegroup}`);
        }
        return true;
      });
      let ready = 0;
      const degraded = new DegradedClock(p.degradedGraceSeconds);
      await pollUntil(ctx, {
        what: `node group ${p.nodegroup}`,
        name: 'nodegroup',
        check: async ({ marks }): Promise<PollLook> => {
          // Since when it has been DEGRADED is kept across parks, so its grace is not restarted by each look.
          degraded.since = marks.degradedSince;
          const look = degraded.look({ cluster: p.cluster, nodegroup: p.nodegroup }, await describe(client, p.cluster, p.nodegroup));
          if (!look.done) return 'failed' in look || degraded.since === undefined ? look : { ...look, marks: { degradedSince: degraded.since } };
          if (!p.waitForNodes) return { done: true };
          let nodes;
          try {
            nodes = (await (await ctx.kube()).core.listNode({ labelSelector: `eks.amazonaws.com/nodegroup=${p.nodegroup}` })).items;
          } catch (err) {
            throw classifyKubeError(err, `listing nodes of ${p.nodegroup}`);
          }
          ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
          return ready >= p.desired ? { done: true } : { done: false, state: `${ready} of ${plural(p.desired, 'node')} ready`, percent: Math.round((ready / Math.max(1, p.desired)) * 100) };
        },
      });
      return { desired: p.desired, readyNodes: ready };
    },
  });
}
