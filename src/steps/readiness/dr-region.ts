import { DescribeClusterCommand, DescribeNodegroupCommand } from '@aws-sdk/client-eks';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import type { TargetAccess, TargetView } from '../../targets/targets.ts';
import { errorMessage } from '../../errors.ts';
import { AssumeRoleError } from '../../targets/credentials.ts';
import { awsCode } from '../rds/aws.ts';
import { fail, type ItemSpec, measured, pass } from './items.ts';
import type { ItemResult } from './report.ts';

export const DrRegionChecksSchema = z.object({
  /** The pilot-light node group that keeps the DR cluster able to schedule (DR-PLAN.md, "DR Architecture"). */
  nodegroup: z.union([z.literal(''), z.string().regex(/^[a-zA-Z0-9][\w-]{0,62}$/)]).default('pilot-light'),
});
export type DrRegionChecks = z.infer<typeof DrRegionChecksSchema>;

/** The DR EKS cluster ACTIVE, its pilot-light node group there, and Kubernetes answering the bot (in Velero's namespace). */
export async function drRegionItems(aws: TargetAccess['aws'], kube: () => Promise<KubeApis>, target: TargetView, veleroNamespace: string, checks: DrRegionChecks, timeoutMs: number): Promise<ItemResult[]> {
  const cluster = target.eksCluster;
  const active: ItemSpec = { id: 'dr-region.eks-active', area: 'dr-region', title: `DR EKS cluster ${cluster ?? ''} ACTIVE`, objective: 'ACTIVE' };
  const nodes: ItemSpec = { id: `dr-region.nodegroup.${checks.nodegroup || 'none'}`, area: 'dr-region', title: `Pilot-light node group ${checks.nodegroup} present`, objective: 'ACTIVE' };
  const reach: ItemSpec = { id: 'dr-region.kubernetes', area: 'dr-region', title: 'The bot reaches the DR cluster\'s Kubernetes', objective: 'answers' };
  const eks = cluster
    ? await measured([active, ...(checks.nodegroup ? [nodes] : [])], timeoutMs, async (signal) => {
        const items: ItemResult[] = [];
        try {
          const status = (await aws.eks().send(new DescribeClusterCommand({ name: cluster }), { abortSignal: signal })).cluster?.status ?? 'unknown';
          items.push(status === 'ACTIVE' ? pass(active, status, 'Ready for workloads.') : fail(active, status, `The DR cluster is ${status}.`, 'Look at the cluster in the EKS console of the DR region.'));
        } catch (err) {
          if (awsCode(err) !== 'ResourceNotFoundException') throw err;
          items.push(fail(active, 'missing', `EKS has no cluster ${cluster} in the DR region: a region outage needs it built first (hours).`, 'Create the pilot-light cluster with Terraform (DR-PLAN.md, "DR Architecture").'));
          return checks.nodegroup ? [...items, fail(nodes, 'no cluster', 'No cluster to hold it.', 'Create the cluster first.')] : items;
        }
        if (!checks.nodegroup) return items;
        try {
          const status = (await aws.eks().send(new DescribeNodegroupCommand({ clusterName: cluster, nodegroupName: checks.nodegroup }), { abortSignal: signal })).nodegroup?.status ?? 'unknown';
          items.push(status === 'ACTIVE' ? pass(nodes, status, 'Present.') : fail(nodes, status, `Node group ${checks.nodegroup} is ${status}.`, 'Look at the node group\'s health issues in the EKS console.'));
        } catch (err) {
          if (awsCode(err) !== 'ResourceNotFoundException') throw err;
          items.push(fail(nodes, 'missing', `Cluster ${cluster} has no node group ${checks.nodegroup}: nothing to scale up in a failover.`, 'Create it with Terraform, or name the right one (drRegion.nodegroup).'));
        }
        return items;
      })
    : [fail(active, 'no EKS cluster named', "The DR target names no EKS cluster (kubernetes.eksCluster), so the bot cannot check or use it.", "Set the DR target's kubernetes: { eksCluster: <name> }.")];
  // A namespaced read the bot's RBAC already grants (pods, read-only): proves the role is let in without listing the cluster's namespaces.
  const answered = await measured([reach], timeoutMs, async () => {
    await (await kube()).core.listNamespacedPod({ namespace: veleroNamespace, limit: 1 });
    return [pass(reach, 'answered', `Role assumed and Kubernetes answered (pods of ${veleroNamespace} listed).`)];
  });
  return [...eks, ...answered];
}

/** The bot's role on this target can be assumed (STS answers as it). */
export async function roleItem(aws: TargetAccess['aws'], target: TargetView, timeoutMs: number): Promise<ItemResult[]> {
  const spec: ItemSpec = { id: 'bot.role', area: 'bot', title: `The bot's role on ${target.name} can be assumed`, objective: 'STS answers as the role' };
  return measured([spec], timeoutMs, async (signal) => {
    let who;
    try {
      who = await aws.sts().send(new GetCallerIdentityCommand({}), { abortSignal: signal });
    } catch (err) {
      // STS refusing the role is an answer (the trust policy, the external id); no answer at all stays unknown.
      const refused = err instanceof AssumeRoleError ? err.permanent : /^(AccessDenied|InvalidClientTokenId|ExpiredToken|RegionDisabledException)$/.test(awsCode(err));
      if (!refused) throw err;
      return [fail(spec, awsCode(err), `STS refused the bot's credentials for ${target.name}: ${errorMessage(err).slice(0, 300)}. Every step on this target would fail the same way.`, "Check the role's trust policy (deploy/iam/target-role-trust.json): the bot's principal and the external id.")];
    }
    if (target.account && who.Account && who.Account !== target.account) {
      return [fail(spec, who.Arn ?? who.Account, `STS answered as account ${who.Account}, not the target's ${target.account}: the target's role or credentials point elsewhere.`, "Fix the target's roleArn (or account).")];
    }
    return [pass(spec, who.Arn ?? 'answered', 'Assumed.')];
  });
}
