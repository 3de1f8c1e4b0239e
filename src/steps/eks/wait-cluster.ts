import { z } from 'zod';
import { EKS_CLUSTER_NAME } from '../../targets/config.ts';
import { clusterState } from '../../targets/kube.ts';
import type { TargetAccess } from '../../targets/targets.ts';
import { classifyKubeError, statusCode } from '../kube/api.ts';
import { pollUntil } from '../poll.ts';
import { classifyAwsError } from '../rds/aws.ts';
import { defineStep, isPermanent, PermanentStepError, type PlanLine } from '../types.ts';
import { eksVerdictOf, terminalAdvice } from './states.ts';

const params = z
  .object({
    /** The EKS cluster to wait for; the one the step's target reaches (or the runbook names at run time) unless given. */
    cluster: z.string().regex(EKS_CLUSTER_NAME, 'must be an EKS cluster name').optional(),
    intervalSeconds: z.number().int().min(1).max(300).default(15),
  })
  .strict();
type WaitClusterParams = z.infer<typeof params>;

/** A namespace every cluster has: reading it proves the bot is let in. */
const PROBE_NAMESPACE = 'kube-system';

interface Cluster {
  name: string;
  region: string;
  account?: string | undefined;
  /** Whether `ctx.kube()` reaches this cluster, so the bot's access to it can be proven. */
  reachable: boolean;
}

/** A target whose cluster is reached another way (a kubeconfig, in-cluster): nothing to wait for. */
function notEks(ctx: TargetAccess, p: WaitClusterParams): string | undefined {
  if (p.cluster ?? ctx.target.eksCluster) return undefined;
  return ctx.target.cluster ? `target ${ctx.target.name} reaches ${ctx.target.cluster}, not an EKS cluster by name: nothing to wait for` : undefined;
}

async function clusterOf(ctx: TargetAccess, p: WaitClusterParams): Promise<Cluster> {
  const name = p.cluster ?? ctx.target.eksCluster;
  if (!name) {
    throw new PermanentStepError(
      `target ${ctx.target.name} reaches no EKS cluster (its Kubernetes cluster: ${ctx.target.cluster ?? 'none'}); give the step's cluster, or the target kubernetes.eksCluster (docs/targets.md)`,
    );
  }
  const region = ctx.target.region ?? (await ctx.aws.eks().config.region());
  return { name, region, account: ctx.target.account, reachable: name === ctx.target.eksCluster };
}

/** `in us-west-2 (account 222222222222)`: where the cluster is awaited. */
const where = (c: Cluster) => `in ${c.region}${c.account ? ` (account ${c.account})` : ''}`;

async function lookUp(ctx: TargetAccess, name: string): ReturnType<typeof clusterState> {
  try {
    return await clusterState(ctx.aws.eks(), name);
  } catch (err) {
    throw classifyAwsError(err, `describing EKS cluster ${name}`);
  }
}

/** Whether the cluster is in a state that never leads to ACTIVE (FAILED, DELETING): waiting cannot help. */
const isDead = (state: string) => eksVerdictOf('cluster', state) === 'failure';

function deadMessage(c: Cluster, state: string): string {
  return `EKS cluster ${c.name} ${where(c)} is ${state}: it will not become ACTIVE; ${terminalAdvice('cluster', { cluster: c.name }, state)}`;
}

/**
 * Whether the cluster's Kubernetes API lets the bot in: undefined when it
 * does, else why not and what to fix, to follow "EKS cluster X is ACTIVE"
 * (a new cluster knows only the IAM principals mapped in it). Other errors are thrown.
 */
async function refusal(ctx: TargetAccess, c: Cluster): Promise<string | undefined> {
  const api = await ctx.kube();
  try {
    await api.core.readNamespace({ name: PROBE_NAMESPACE });
    return undefined;
  } catch (err) {
    const code = statusCode(err);
    // The API server authorizes a request before it looks the object up: a 404 means the bot may read namespaces.
    if (code === 404) return undefined;
    const role = `the IAM role the bot uses for target ${ctx.target.name}`;
    if (code === 401) {
      return (
        `but its Kubernetes API does not know the bot (HTTP 401 Unauthorized): map ${role} in the new cluster, ` +
        `with an EKS access entry in its group (\`aws eks create-access-entry --cluster-name ${c.name} --principal-arn <role ARN> --kubernetes-groups dr-chatops\`) or in its aws-auth ConfigMap, then \`kubectl apply -f deploy/target-cluster/rbac.yaml\`; see docs/targets.md`
      );
    }
    if (code === 403) {
      return (
        `and knows the bot, but does not let it read namespaces (HTTP 403 Forbidden): give ${role} its permissions in the new cluster ` +
        `(\`kubectl apply -f deploy/target-cluster/rbac.yaml\`, which binds the group dr-chatops its access entry or aws-auth mapping must name); see docs/targets.md`
      );
    }
    throw classifyKubeError(err, `reading namespace ${PROBE_NAMESPACE} of EKS cluster ${c.name}`);
  }
}

/**
 * `eks.wait-cluster`: waits until an EKS cluster is ACTIVE, typically one a
 * runbook names at run time and that is being created (by Terraform, eksctl
 * or a person) while the run goes on; then proves the bot can use its
 * Kubernetes API, so the steps after it fail on nothing but their own work.
 * Reads: DescribeCluster, namespace kube-system. Changes nothing.
 * Idempotency: reads only; a re-entered step simply looks again.
 */
export function waitClusterStep() {
  return defineStep({
    id: 'eks.wait-cluster',
    // Reads only: entering it again after a park repeats a look.
    resumable: true,
    summary: 'Wait until an EKS cluster is ACTIVE and the bot can use its Kubernetes API',
    params,
    outputs: ['cluster', 'endpoint'],
    async plan(ctx, p): Promise<PlanLine[]> {
      const other = notEks(ctx, p);
      if (other) return [{ action: 'check', resource: `target ${ctx.target.name}`, detail: other }];
      const c = await clusterOf(ctx, p);
      const { state } = await lookUp(ctx, c.name);
      if (isDead(state)) throw new PermanentStepError(deadMessage(c, state));
      const resource = `eks cluster ${c.name}`;
      const then = c.reachable
        ? `, looking every ${p.intervalSeconds}s; then checks that the bot can read its Kubernetes API`
        : `, looking every ${p.intervalSeconds}s (the bot's access to it is not checked: target ${ctx.target.name} reaches ${ctx.target.cluster ?? 'no cluster'})`;
      if (state === 'not found') return [{ action: 'wait', resource, detail: `wait for EKS cluster ${c.name} to be created ${where(c)} and become ACTIVE${then}` }];
      if (state !== 'ACTIVE') return [{ action: 'wait', resource, detail: `wait until EKS cluster ${c.name} ${where(c)} is ACTIVE (it is ${state} now)${then}` }];
      const refused = c.reachable ? await refusal(ctx, c) : undefined;
      if (refused) throw new PermanentStepError(`EKS cluster ${c.name} is ACTIVE ${refused}`);
      return [{ action: 'check', resource, detail: `EKS cluster ${c.name} (${c.region}) is ACTIVE${c.reachable ? '; the bot can read its Kubernetes API' : ''}` }];
    },
    async run(ctx, p) {
      const other = notEks(ctx, p);
      if (other) {
        ctx.progress(other);
        return { cluster: '', endpoint: '' };
      }
      const c = await clusterOf(ctx, p);
      const interval = p.intervalSeconds * 1_000;
      let endpoint = '';
      // The refusal of the last look: an access entry is often made just after the cluster turns ACTIVE, so it is waited for too.
      let refused: string | undefined;
      await pollUntil(ctx, {
        what: `EKS cluster ${c.name}`,
        firstDelayMs: interval,
        maxDelayMs: interval,
        check: async () => {
          refused = undefined;
          const found = await lookUp(ctx, c.name);
          if (isDead(found.state)) return { done: false, failed: deadMessage(c, found.state) };
          if (found.state === 'not found') return { done: false, state: `not created yet ${where(c)}` };
          if (found.state !== 'ACTIVE') return { done: false, state: found.state };
          if (!found.endpoint) return { done: false, state: 'ACTIVE without an endpoint yet' };
          endpoint = found.endpoint;
          refused = c.reachable ? await refusal(ctx, c) : undefined;
          return refused ? { done: false, state: `ACTIVE ${refused}` } : { done: true };
        },
      }).catch((err: unknown) => {
        // Out of time while the cluster refused the bot: what to fix is the message, not "gave up waiting".
        if (refused && isPermanent(err)) throw new PermanentStepError(`EKS cluster ${c.name} is ACTIVE ${refused}`, { cause: err });
        throw err;
      });
      ctx.progress(`EKS cluster ${c.name} is ACTIVE${c.reachable ? ' and lets the bot in' : ''}`);
      return { cluster: c.name, endpoint };
    },
  });
}
