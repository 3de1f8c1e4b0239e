/**
 * A loopback Amazon ECR (awsJson1_1, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`)
 * for what the readiness checklist reads: DescribeRegistry (its replication
 * configuration), DescribeRepositories, DescribeImages and
 * DescribeImageReplicationStatus. One fake serves every region; each region
 * has its own private registry (the account's, unless `setRegistry` says
 * otherwise), answered for the region a request was signed for.
 *
 * Replication works as ECR's does (API-FACTS 8.5): an image pushed into a
 * repository that a rule of its region's replication configuration matches
 * is copied to each destination region's registry (creating the repository
 * there) and its status there is COMPLETE; images pushed before the rule was
 * set are not replicated (the backfill trap). A test may put another status
 * on a destination (`setReplicationStatus`, e.g. FAILED).
 *
 * As strict as ECR: the model (aws-models/json.ts, InvalidParameterException);
 * DescribeImages throws ImageNotFoundException for an image it does not hold
 * and RepositoryNotFoundException for a repository; maxResults and nextToken
 * cannot be given with imageIds or repositoryNames.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ModelProblem } from './aws-models/query.ts';
import { AwsJsonError, AwsJsonFake, type CallContext, type JsonProtocol, pagePosition, pageToken } from './aws-json-fake.ts';

export interface EcrReplicationRule {
  destinations: { region: string; registryId?: string }[];
  /** PREFIX_MATCH filters on the repository name; every repository when none. */
  repositoryFilters?: { filter: string; filterType?: 'PREFIX_MATCH' }[];
}

export type EcrReplicationStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

export interface EcrImage {
  digest: string;
  tags: string[];
  pushedAt: Date;
  sizeInBytes: number;
  /** Status per destination region; replicas have none. */
  replication: Map<string, { status: EcrReplicationStatus; failureCode?: string }>;
}

interface Repository {
  name: string;
  createdAt: Date;
  images: EcrImage[];
}

interface Registry {
  registryId: string;
  rules: EcrReplicationRule[];
  repositories: Map<string, Repository>;
}

type ImageId = { imageDigest?: string; imageTag?: string };

const DIGEST = /^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$/;
const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export class FakeEcr extends AwsJsonFake {
  protected readonly protocol: JsonProtocol = { service: 'ecr', signingName: 'ecr', jsonVersion: '1.1' };
  /** The account whose registries these are (a region's registry id unless `setRegistry` changes it). */
  account = '123456789012';
  private readonly registries = new Map<string, Registry>();

  /** Gives `region`'s registry another id (another account's registry). */
  setRegistry(region: string, registryId: string): this {
    this.registry(region).registryId = registryId;
    return this;
  }

  /** `region`'s replication configuration (DescribeRegistry), as PutReplicationConfiguration would set it: at most 10 rules. */
  setReplicationConfiguration(region: string, rules: EcrReplicationRule[]): this {
    if (rules.length > 10) throw new Error('ECR allows at most 10 replication rules per registry');
    this.registry(region).rules = rules;
    return this;
  }

  addRepository(region: string, name: string): this {
    const registry = this.registry(region);
    if (!registry.repositories.has(name)) registry.repositories.set(name, { name, createdAt: new Date(), images: [] });
    return this;
  }

  /**
   * Pushes an image (`tag` moves to it from any other image, as a push does)
   * and replicates it as `region`'s configuration says. Returns its digest.
   */
  pushImage(region: string, repository: string, image: { tag?: string; digest?: string; sizeInBytes?: number; pushedAt?: Date }): string {
    const repo = this.registry(region).repositories.get(repository);
    if (!repo) throw new Error(`no repository ${repository} in the fake ECR's ${region} registry (addRepository first)`);
    const digest = image.digest ?? `sha256:${createHash('sha256').update(randomBytes(16)).digest('hex')}`;
    const pushed = this.store(repo, digest, image);
    for (const destination of this.destinationsOf(region, repository)) {
      this.addRepository(destination, repository);
      const replicaRepo = this.registry(destination).repositories.get(repository);
      if (replicaRepo) this.store(replicaRepo, digest, { ...image, pushedAt: pushed.pushedAt });
      pushed.replication.set(destination, { status: 'COMPLETE' });
    }
    return digest;
  }

  /** Removes an image (by digest or tag) from `region`'s repository, as BatchDeleteImage would. */
  deleteImage(region: string, repository: string, id: { digest?: string; tag?: string }): void {
    const repo = this.registry(region).repositories.get(repository);
    if (!repo) return;
    repo.images = repo.images.filter((i) => !(i.digest === id.digest || (id.tag !== undefined && i.tags.includes(id.tag))));
  }

  /** What DescribeImageReplicationStatus reports for `destination` of an image (by digest) in `region`. */
  setReplicationStatus(region: string, repository: string, digest: string, destination: string, status: EcrReplicationStatus, failureCode?: string): void {
    const image = this.registry(region).repositories.get(repository)?.images.find((i) => i.digest === digest);
    if (!image) throw new Error(`no image ${digest} in ${region}/${repository}`);
    image.replication.set(destination, { status, ...(failureCode ? { failureCode } : {}) });
  }

  protected override documentedProblem(operation: string, input: Record<string, unknown>): ModelProblem | undefined {
    const invalid = (message: string): ModelProblem => ({ code: 'InvalidParameterException', message });
    const listed = operation === 'DescribeImages' ? 'imageIds' : operation === 'DescribeRepositories' ? 'repositoryNames' : undefined;
    if (listed && input[listed] !== undefined && (input.maxResults !== undefined || input.nextToken !== undefined)) {
      return invalid(`Invalid parameter at '${listed}' failed to satisfy constraint: 'maxResults and nextToken cannot be specified with ${listed}'`);
    }
    const ids = operation === 'DescribeImages' ? ((input.imageIds ?? []) as ImageId[]) : operation === 'DescribeImageReplicationStatus' ? [input.imageId as ImageId] : [];
    for (const id of ids) {
      if (id.imageDigest === undefined && id.imageTag === undefined) return invalid("Invalid parameter at 'imageId' failed to satisfy constraint: 'imageDigest or imageTag must be specified'");
      if (id.imageDigest !== undefined && !DIGEST.test(id.imageDigest)) return invalid(`Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must satisfy regular expression '${DIGEST.source.slice(1, -1)}''`);
    }
    return undefined;
  }

  protected answer(operation: string, input: Record<string, unknown>, ctx: CallContext): unknown {
    const registry = this.registry(ctx.region);
    const registryId = typeof input.registryId === 'string' ? input.registryId : registry.registryId;
    // Another account's registry: the fake holds nothing of it.
    const repositories = registryId === registry.registryId ? registry.repositories : new Map<string, Repository>();
    const repository = (name: unknown): Repository => {
      const repo = repositories.get(String(name));
      if (!repo) throw new AwsJsonError('RepositoryNotFoundException', `The repository with name '${String(name)}' does not exist in the registry with id '${registryId}'`);
      return repo;
    };
    switch (operation) {
      case 'DescribeRegistry':
        return { registryId: registry.registryId, replicationConfiguration: { rules: registry.rules.map((r) => ruleJson(r, this.registry.bind(this))) } };
      case 'DescribeRepositories': {
        const names = input.repositoryNames as string[] | undefined;
        const list = names ? names.map(repository) : [...repositories.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
        const page = paged(list, input, 100);
        return { repositories: page.items.map((r) => this.repositoryJson(ctx.region, registryId, r)), ...page.next };
      }
      case 'DescribeImages': {
        const repo = repository(input.repositoryName);
        const ids = input.imageIds as ImageId[] | undefined;
        if (ids) {
          const found = ids.map((id) => this.image(repo, registryId, id));
          return { imageDetails: [...new Set(found)].map((i) => imageJson(registryId, repo.name, i)) };
        }
        const tagStatus = (input.filter as { tagStatus?: string } | undefined)?.tagStatus ?? 'ANY';
        const list = repo.images.filter((i) => tagStatus === 'ANY' || (tagStatus === 'TAGGED') === i.tags.length > 0);
        const page = paged(list, input, 100);
        return { imageDetails: page.items.map((i) => imageJson(registryId, repo.name, i)), ...page.next };
      }
      case 'DescribeImageReplicationStatus': {
        const repo = repository(input.repositoryName);
        const id = input.imageId as ImageId;
        const image = this.image(repo, registryId, id);
        const statuses = [...image.replication].map(([region, s]) => ({ region, registryId: this.registry(region).registryId, status: s.status, ...(s.failureCode ? { failureCode: s.failureCode } : {}) }));
        return { repositoryName: repo.name, imageId: { imageDigest: image.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) }, replicationStatuses: statuses };
      }
      default:
        throw new AwsJsonError('UnsupportedOperationException', `The fake ECR does not implement ${operation}.`);
    }
  }

  private registry(region: string): Registry {
    let r = this.registries.get(region);
    if (!r) {
      r = { registryId: this.account, rules: [], repositories: new Map() };
      this.registries.set(region, r);
    }
    return r;
  }

  /** The regions a push to `repository` in `region` replicates to (same-account destinations the fake holds). */
  private destinationsOf(region: string, repository: string): string[] {
    const regions = new Set<string>();
    for (const rule of this.registry(region).rules) {
      const filters = rule.repositoryFilters ?? [];
      if (filters.length > 0 && !filters.some((f) => repository.startsWith(f.filter))) continue;
      for (const d of rule.destinations) {
        if (d.region !== region && (d.registryId ?? this.registry(d.region).registryId) === this.registry(d.region).registryId) regions.add(d.region);
      }
    }
    return [...regions];
  }

  private store(repo: Repository, digest: string, image: { tag?: string; sizeInBytes?: number; pushedAt?: Date }): EcrImage {
    if (image.tag !== undefined) for (const other of repo.images) other.tags = other.tags.filter((t) => t !== image.tag);
    let stored = repo.images.find((i) => i.digest === digest);
    if (!stored) {
      stored = { digest, tags: [], pushedAt: image.pushedAt ?? new Date(), sizeInBytes: image.sizeInBytes ?? 52_428_800, replication: new Map() };
      repo.images.push(stored);
    }
    if (image.tag !== undefined) stored.tags.push(image.tag);
    return stored;
  }

  private image(repo: Repository, registryId: string, id: ImageId): EcrImage {
    const found = repo.images.find((i) => (id.imageDigest === undefined || i.digest === id.imageDigest) && (id.imageTag === undefined || i.tags.includes(id.imageTag)));
    if (!found) {
      throw new AwsJsonError(
        'ImageNotFoundException',
        `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${repo.name}' in the registry with id '${registryId}'`,
      );
    }
    return found;
  }

  private repositoryJson(region: string, registryId: string, r: Repository): unknown {
    return {
      repositoryArn: `arn:aws:ecr:${region}:${registryId}:repository/${r.name}`,
      registryId,
      repositoryName: r.name,
      repositoryUri: `${registryId}.dkr.ecr.${region}.amazonaws.com/${r.name}`,
      createdAt: r.createdAt,
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: { encryptionType: 'AES256' },
    };
  }
}

function ruleJson(rule: EcrReplicationRule, registry: (region: string) => Registry): unknown {
  return {
    destinations: rule.destinations.map((d) => ({ region: d.region, registryId: d.registryId ?? registry(d.region).registryId })),
    ...(rule.repositoryFilters?.length ? { repositoryFilters: rule.repositoryFilters.map((f) => ({ filter: f.filter, filterType: f.filterType ?? 'PREFIX_MATCH' })) } : {}),
  };
}

function imageJson(registryId: string, repositoryName: string, i: EcrImage): unknown {
  return {
    registryId,
    repositoryName,
    imageDigest: i.digest,
    ...(i.tags.length ? { imageTags: [...i.tags] } : {}),
    imageSizeInBytes: i.sizeInBytes,
    imagePushedAt: i.pushedAt,
    imageManifestMediaType: MANIFEST,
    artifactMediaType: 'application/vnd.docker.container.image.v1+json',
  };
}

/** One page of `list` by `maxResults` (default `size`) from `nextToken`; InvalidParameterException for a token it did not hand out. */
function paged<T>(list: T[], input: Record<string, unknown>, size: number): { items: T[]; next: { nextToken?: string } } {
  const from = input.nextToken === undefined ? 0 : pagePosition(input.nextToken);
  if (from === undefined) throw new AwsJsonError('InvalidParameterException', "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'");
  const max = typeof input.maxResults === 'number' ? input.maxResults : size;
  const items = list.slice(from, from + max);
  return { items, next: from + max < list.length ? { nextToken: pageToken(from + max) } : {} };
}
