import type { V1Node } from '@kubernetes/client-node';
import { z } from 'zod';
import { AZ_NAME, AZ_NAME_REFUSAL } from '../../targets/aws-ids.ts';
import type { KubeApis } from '../../targets/kube.ts';
import { defineStep, PermanentStepError } from '../types.ts';
import { classifyKubeError, FIELD_MANAGER, listAll, MERGE_PATCH, statusCode } from './api.ts';

/** The node label holding the AZ **name** on AWS (`us-east-1a`), not its id (API-FACTS 8.9). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Put on a node this bot cordoned, with the run's id: an uncordon touches only nodes carrying it. */
export const CORDONED_BY = 'dr-chatops/cordoned-by';

/**
 * An AZ name as the zone label holds it (`us-east-1a`, `us-west-2-lax-1a`);
 * AZ ids (`use1-az1`, what ARC zonal shift names) are refused, saying so.
 */
export const ZONE_NAME = z.string().regex(AZ_NAME, AZ_NAME_REFUSAL);

const nameOf = (n: V1Node) => n.metadata?.name ?? '';
const isCordoned = (n: V1Node) => n.spec?.unschedulable === true;
const cordonedBy = (n: V1Node) => n.metadata?.annotations?.[CORDONED_BY];

/**
 * The zone's nodes; none is refused, naming the zones the cluster has (a
 * typo, or an AZ id instead of a name), so nothing is done on a wrong zone.
 */
export async function zoneNodes(api: KubeApis, zone: string): Promise<V1Node[]> {
  try {
    const nodes = await listAll((chunk) => api.core.listNode({ labelSelector: `${ZONE_LABEL}=${zone}`, ...chunk }));
    if (nodes.length > 0) return nodes.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    const all = await listAll((chunk) => api.core.listNode(chunk));
    const zones = [...new Set(all.map((n) => n.metadata?.labels?.[ZONE_LABEL]).filter((z): z is string => Boolean(z)))].sort();
    throw new PermanentStepError(`no node has ${ZONE_LABEL}=${zone}; the cluster's nodes are in ${zones.length ? zones.join(', ') : 'no labelled zone'}`);
  } catch (err) {
    if (err instanceof PermanentStepError) throw err;
    throw classifyKubeError(err, `listing the nodes of ${zone}`);
  }
}

/** What a cordon finds: nodes to cordon, ours already (this run's), and those someone else cordoned (left alone). */
function sortForCordon(nodes: V1Node[], runId: string): { toCordon: V1Node[]; ours: V1Node[]; others: V1Node[] } {
  const ours = nodes.filter((n) => isCordoned(n) && cordonedBy(n) === runId);
  const others = nodes.filter((n) => isCordoned(n) && cordonedBy(n) !== runId);
  return { toCordon: nodes.filter((n) => !isCordoned(n)), ours, others };
}

function othersNote(others: V1Node[]): string {
  if (!others.length) return '';
  return `; already cordoned, left as they are (an uncordon of this run leaves them too): ${others.map((n) => `${nameOf(n)}${cordonedBy(n) ? ` (by run ${cordonedBy(n) ?? ''})` : ''}`).join(', ')}`;
}

/**
 * Sets `spec.unschedulable` and the annotation in one merge patch (client-node
 * 2.0.1 sends JSON Patch by default: API-FACTS 8.9), with the node's
 * resourceVersion as a precondition: a node someone cordoned meanwhile is read
 * again rather than marked as ours.
 */
async function patchNode(api: KubeApis, node: V1Node, body: object, doing: string): Promise<'done' | 'changed'> {
  try {
    await api.core.patchNode({ name: nameOf(node), body: { ...body, metadata: { ...(body as { metadata?: object }).metadata, resourceVersion: node.metadata?.resourceVersion } }, fieldManager: FIELD_MANAGER }, MERGE_PATCH);
    return 'done';
  } catch (err) {
    if (statusCode(err) === 409) return 'changed';
    throw classifyKubeError(err, `${doing} node ${nameOf(node)}`);
  }
}

/**
 * `k8s.cordon-zone`: marks every node of an AZ unschedulable (as `kubectl
 * cordon`), so nothing new starts there; running pods stay (k8s.drain-zone
 * moves them). Each node it cordons carries `dr-chatops/cordoned-by=<run id>`;
 * nodes already cordoned (maintenance, another run) are left as they are and
 * not marked, so k8s.uncordon-zone never undoes someone else's cordon.
 * Reads: list nodes by the zone label. Changes: PATCH node (merge patch).
 * Idempotency: a node this run already cordoned counts as cordoned; the patch
 * is the same value again. Reverse: k8s.uncordon-zone.
 */
export function cordonZoneStep() {
  return defineStep({
    id: 'k8s.cordon-zone',
    summary: 'Cordon every Kubernetes node of an availability zone (reversed by k8s.uncordon-zone)',
    params: z.object({ zone: ZONE_NAME }),
    outputs: ['nodes', 'cordoned'],
    async plan(ctx, p) {
      const { toCordon, ours, others } = sortForCordon(await zoneNodes(await ctx.kube(), p.zone), ctx.runId);
      const cordon = [...toCordon, ...ours];
      return [
        {
          action: 'change',
          resource: `nodes of ${p.zone}`,
          detail: cordon.length
            ? `cordon ${cordon.length} node(s) in ${p.zone} (spec.unschedulable=true, annotated ${CORDONED_BY}): ${cordon.map(nameOf).join(', ')}${othersNote(others)}; k8s.uncordon-zone reverses it`
            : `every node of ${p.zone} is cordoned already: nothing to do${othersNote(others)}`,
        },
      ];
    },
    async run(ctx, p) {
      const api = await ctx.kube();
      let nodes = await zoneNodes(api, p.zone);
      // A node changed between the read and the patch (409) is looked at again, at most a few times.
      for (let round = 0; round < 3; round++) {
        const { toCordon } = sortForCordon(nodes, ctx.runId);
        if (!toCordon.length) break;
        ctx.progress(`cordoning ${toCordon.map(nameOf).join(', ')}`);
        for (const node of toCordon) await patchNode(api, node, { metadata: { annotations: { [CORDONED_BY]: ctx.runId } }, spec: { unschedulable: true } }, 'cordoning');
        nodes = await zoneNodes(api, p.zone);
      }
      const { toCordon, ours, others } = sortForCordon(nodes, ctx.runId);
      if (toCordon.length) throw new Error(`nodes of ${p.zone} kept changing while being cordoned: ${toCordon.map(nameOf).join(', ')}`);
      if (others.length) ctx.progress(othersNote(others).slice(2));
      return { nodes: nodes.map(nameOf).join(','), cordoned: ours.map(nameOf).join(',') };
    },
  });
}

/** The nodes an uncordon may touch: cordoned with the annotation (of run `by` when given), never a node someone else cordoned. */
function ourCordons(nodes: V1Node[], by: string | undefined): V1Node[] {
  return nodes.filter((n) => cordonedBy(n) !== undefined && (by === undefined || cordonedBy(n) === by));
}

/**
 * `k8s.uncordon-zone`: the reverse of k8s.cordon-zone. Makes schedulable again
 * the zone's nodes this bot cordoned: with `cordonedBy` (a run id) only that
 * run's, without it every node carrying a `dr-chatops/cordoned-by` annotation
 * (the reverse runbook is another run and need not know which run cordoned).
 * Nodes someone else cordoned carry no annotation and stay cordoned.
 * Changes: PATCH node (merge patch: unschedulable and the annotation removed).
 * Idempotency: a node already uncordoned has no annotation any more.
 */
export function uncordonZoneStep() {
  return defineStep({
    id: 'k8s.uncordon-zone',
    summary: 'Uncordon the nodes of an availability zone that k8s.cordon-zone cordoned',
    params: z.object({ zone: ZONE_NAME, cordonedBy: z.string().regex(/^[a-z0-9]{1,40}$/, 'must be a run id').optional() }),
    outputs: ['uncordoned'],
    async plan(ctx, p) {
      const nodes = await zoneNodes(await ctx.kube(), p.zone);
      const ours = ourCordons(nodes, p.cordonedBy);
      const left = nodes.filter((n) => isCordoned(n) && !ours.includes(n));
      const whose = p.cordonedBy ? `run ${p.cordonedBy}` : 'this bot';
      const leftNote = left.length ? `; cordoned by someone else, left cordoned: ${left.map(nameOf).join(', ')}` : '';
      return [
        {
          action: ours.length ? 'change' : 'check',
          resource: `nodes of ${p.zone}`,
          detail: ours.length ? `uncordon ${ours.length} node(s) of ${p.zone} that ${whose} cordoned: ${ours.map(nameOf).join(', ')}${leftNote}` : `no node of ${p.zone} is cordoned by ${whose}: nothing to do${leftNote}`,
        },
      ];
    },
    async run(ctx, p) {
      const api = await ctx.kube();
      const done: string[] = [];
      for (let round = 0; round < 3; round++) {
        const ours = ourCordons(await zoneNodes(api, p.zone), p.cordonedBy);
        if (!ours.length) return { uncordoned: done.join(',') };
        ctx.progress(`uncordoning ${ours.map(nameOf).join(', ')}`);
        for (const node of ours) {
          if ((await patchNode(api, node, { metadata: { annotations: { [CORDONED_BY]: null } }, spec: { unschedulable: null } }, 'uncordoning')) === 'done') done.push(nameOf(node));
        }
      }
      throw new Error(`nodes of ${p.zone} kept changing while being uncordoned`);
    },
  });
}
