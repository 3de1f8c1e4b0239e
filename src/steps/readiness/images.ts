import { DescribeImagesCommand, DescribeRegistryCommand, type ReplicationRule } from '@aws-sdk/client-ecr';
import { z } from 'zod';
import type { KubeApis } from '../../targets/kube.ts';
import type { TargetAccess } from '../../targets/targets.ts';
import { mapLimited } from '../../util/limited.ts';
import { plural } from '../../util/text.ts';
import { awsCode } from '../rds/aws.ts';
import { classifyKubeError, listAll } from '../kube/api.ts';
import { fail, type ItemSpec, measured, pass } from './items.ts';
import type { ItemResult } from './report.ts';

/** Calls of one kind in flight at once. */
const PARALLEL_CALLS = 5;

export const ImageChecksSchema = z.object({
  /** Where production's workloads run: the images its pods run now are the ones a DR region needs. */
  namespaces: z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)).default(['production']),
  /** The DR side: the images to look for (the primary's `images` output, JSON). */
  expect: z.string().default(''),
});
export type ImageChecks = z.infer<typeof ImageChecksSchema>;

/** An image a pod runs, from ECR: `<account>.dkr.ecr.<region>.amazonaws.com/<repository>`, pinned by its digest. */
export const RunningImageSchema = z.object({ registry: z.string(), region: z.string(), repository: z.string(), digest: z.string() });
export type RunningImage = z.infer<typeof RunningImageSchema>;

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([a-z0-9._/-]+?)(?::[\w.-]+)?(?:@(sha256:[a-f0-9]{64}))?$/;
const DIGEST = /(sha256:[a-f0-9]{64})$/;

/** The ECR images production's pods run now, by the digest the kubelet pulled (status.imageID). */
async function runningImages(api: KubeApis, namespaces: readonly string[]): Promise<RunningImage[]> {
  const found = new Map<string, RunningImage>();
  for (const namespace of namespaces) {
    let pods;
    try {
      pods = await listAll((page) => api.core.listNamespacedPod({ namespace, ...page }));
    } catch (err) {
      throw classifyKubeError(err, `listing pods in ${namespace}`);
    }
    for (const pod of pods) {
      for (const status of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
        const m = ECR_IMAGE.exec(status.image);
        const digest = m?.[4] ?? DIGEST.exec(status.imageID)?.[1];
        if (!m?.[1] || !m[2] || !m[3] || !digest) continue;
        const image = { registry: m[1], region: m[2], repository: m[3], digest };
        found.set(`${image.repository}@${digest}`, image);
      }
    }
  }
  return [...found.values()];
}

/** Whether a replication rule copies `repository` to `region` (no filter: every repository; else a name prefix). */
function replicates(rule: ReplicationRule, repository: string, region: string): boolean {
  if (!(rule.destinations ?? []).some((d) => d.region === region)) return false;
  const filters = rule.repositoryFilters ?? [];
  return filters.length === 0 || filters.some((f) => f.filterType === 'PREFIX_MATCH' && repository.startsWith(f.filter ?? ''));
}

/** Production's side: replication to the DR region configured for every repository in use; returns the images to look for there. */
export async function primaryImageItems(
  kube: () => Promise<KubeApis>,
  aws: TargetAccess['aws'],
  checks: ImageChecks,
  drRegion: string,
  timeoutMs: number,
): Promise<{ items: ItemResult[]; images: RunningImage[] }> {
  const spec: ItemSpec = { id: 'images.replication', area: 'images', title: `ECR replication to ${drRegion} covers the repositories in use`, objective: `every repository production runs replicated to ${drRegion}` };
  let images: RunningImage[] = [];
  const items = await measured([spec], timeoutMs, async (signal) => {
    images = await runningImages(await kube(), checks.namespaces);
    const repositories = [...new Set(images.map((i) => i.repository))].sort();
    if (repositories.length === 0) return [fail(spec, 'no ECR image running', `No pod in ${checks.namespaces.join(', ')} runs an ECR image by digest: nothing to compare.`, 'Name the namespaces production runs in (images.namespaces).')];
    const rules = (await aws.ecr().send(new DescribeRegistryCommand({}), { abortSignal: signal })).replicationConfiguration?.rules ?? [];
    const uncovered = repositories.filter((r) => !rules.some((rule) => replicates(rule, r, drRegion)));
    const value = `${repositories.length - uncovered.length} of ${plural(repositories.length, 'repository', 'repositories')}`;
    if (uncovered.length) {
      return [fail(spec, value, `Not replicated to ${drRegion}: ${uncovered.join(', ')}. A region outage leaves these images behind.`, `Add a replication rule with destination ${drRegion} (aws ecr put-replication-configuration); ECR filters are name prefixes, "*" is not a wildcard. Then push the images again: only images pushed after the rule are replicated.`)];
    }
    return [pass(spec, value, `Replicated to ${drRegion}.`)];
  });
  return { items, images };
}

/** The DR side: every image production runs exists in the DR region, by digest. */
export async function drImageItems(aws: TargetAccess['aws'], checks: ImageChecks, timeoutMs: number): Promise<ItemResult[]> {
  const spec: ItemSpec = { id: 'images.in-dr-region', area: 'images', title: 'The images production runs exist in the DR region', objective: 'every running image, by digest' };
  return measured([spec], timeoutMs, async (signal) => {
    const images = parseImages(checks.expect);
    if (images.length === 0) return [fail(spec, 'nothing to compare', 'Production reported no running ECR image (see its images item).', "Fix production's image item first.")];
    const missing: string[] = [];
    // ECR's DescribeImages is rate-limited per account and region: a few at a time, whatever the number of images.
    await mapLimited(images, PARALLEL_CALLS, async (image) => {
        try {
          await aws.ecr().send(new DescribeImagesCommand({ repositoryName: image.repository, imageIds: [{ imageDigest: image.digest }] }), { abortSignal: signal });
        } catch (err) {
          if (awsCode(err) === 'ImageNotFoundException' || awsCode(err) === 'RepositoryNotFoundException') missing.push(`${image.repository}@${image.digest.slice(0, 19)}`);
          else throw err;
        }
      });
    const value = `${images.length - missing.length} of ${plural(images.length, 'image')}`;
    if (missing.length) {
      return [fail(spec, value, `Missing in the DR region: ${missing.sort().join(', ')}. Pods there could not start.`, 'Only images pushed after replication was set up are replicated: push these again (or copy them), and check the replication rule.')];
    }
    return [pass(spec, value, 'All present.')];
  });
}

function parseImages(text: string): RunningImage[] {
  try {
    const parsed = z.array(RunningImageSchema).safeParse(text ? JSON.parse(text) : []);
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}
