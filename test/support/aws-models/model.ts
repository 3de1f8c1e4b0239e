/**
 * AWS's published service models, as the fakes check requests against them.
 *
 * Two sources, neither copied into the project:
 * - the structure (operations, members, types, required, HTTP bindings) from
 *   the npm package `aws-sdk` (v2, a devDependency): `apis/<service>.min.json`,
 *   the newest models, but minified without `enum`, `min`, `max`, `pattern`;
 * - those constraints from Debian's `python3-botocore` (`botocore/data`), which
 *   `npm test` installs when it is missing (scripts/test-prerequisites).
 *
 * The minified model inlines shapes, so constraints cannot be joined by shape
 * name: a `ShapeNode` walks both models side by side, member by member.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Shape {
  shape?: string;
  type?: string;
  required?: string[];
  members?: Record<string, Shape>;
  member?: Shape;
  key?: Shape;
  value?: Shape;
  location?: string;
  locationName?: string;
  flattened?: boolean;
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
}

export interface Operation {
  http?: { method?: string; requestUri?: string };
  input?: Shape;
}

interface Model {
  metadata: { apiVersion: string; protocol: string; targetPrefix?: string; jsonVersion?: string; signingName?: string; endpointPrefix?: string };
  operations: Record<string, Operation>;
  shapes: Record<string, Shape>;
}

export type ServiceName = 'rds' | 'eks' | 'sts' | 's3' | 'cloudwatch' | 'ecr' | 'secretsmanager' | 'route53' | 'arc-zonal-shift' | 'ec2' | 'route53-recovery-cluster';

const MODEL_FILES: Record<ServiceName, { v2: string; botocore: string }> = {
  rds: { v2: 'rds-2014-10-31', botocore: 'rds/2014-10-31/service-2.json' },
  eks: { v2: 'eks-2017-11-01', botocore: 'eks/2017-11-01/service-2.json' },
  sts: { v2: 'sts-2011-06-15', botocore: 'sts/2011-06-15/service-2.json' },
  s3: { v2: 's3-2006-03-01', botocore: 's3/2006-03-01/service-2.json' },
  // aws-sdk v2 names CloudWatch by its endpoint prefix.
  cloudwatch: { v2: 'monitoring-2010-08-01', botocore: 'cloudwatch/2010-08-01/service-2.json' },
  ecr: { v2: 'ecr-2015-09-21', botocore: 'ecr/2015-09-21/service-2.json' },
  secretsmanager: { v2: 'secretsmanager-2017-10-17', botocore: 'secretsmanager/2017-10-17/service-2.json' },
  route53: { v2: 'route53-2013-04-01', botocore: 'route53/2013-04-01/service-2.json' },
  'arc-zonal-shift': { v2: 'arc-zonal-shift-2022-10-30', botocore: 'arc-zonal-shift/2022-10-30/service-2.json' },
  ec2: { v2: 'ec2-2016-11-15', botocore: 'ec2/2016-11-15/service-2.json' },
  'route53-recovery-cluster': { v2: 'route53-recovery-cluster-2019-12-02', botocore: 'route53-recovery-cluster/2019-12-02/service-2.json' },
};

/** Where Debian's python3-botocore keeps its models; BOTOCORE_DATA_DIR overrides it. */
export const BOTOCORE_DATA_DIR = process.env.BOTOCORE_DATA_DIR ?? '/usr/lib/python3/dist-packages/botocore/data';

const cache = new Map<ServiceName, ServiceModel>();

export function serviceModel(name: ServiceName): ServiceModel {
  let found = cache.get(name);
  if (!found) {
    found = new ServiceModel(loadV2(name), loadBotocore(name));
    cache.set(name, found);
  }
  return found;
}

function loadV2(name: ServiceName): Model {
  const path = createRequire(import.meta.url).resolve(`aws-sdk/apis/${MODEL_FILES[name].v2}.min.json`);
  return JSON.parse(readFileSync(path, 'utf8')) as Model;
}

function loadBotocore(name: ServiceName): Model {
  const path = join(BOTOCORE_DATA_DIR, MODEL_FILES[name].botocore);
  // Newer botocore releases ship their models gzipped.
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Model;
  if (existsSync(`${path}.gz`)) return JSON.parse(gunzipSync(readFileSync(`${path}.gz`)).toString('utf8')) as Model;
  throw new Error(
    `The AWS service model constraints the fakes check come from Debian's python3-botocore, and ${path} is missing. ` +
      'Install it (apt-get install python3-botocore; `npm test` does so when it may) or point BOTOCORE_DATA_DIR at a botocore/data folder.',
  );
}

export class ServiceModel {
  private readonly v2: Model;
  private readonly full: Model;

  constructor(v2: Model, full: Model) {
    this.v2 = v2;
    this.full = full;
  }

  get apiVersion(): string {
    return this.v2.metadata.apiVersion;
  }

  /** The JSON protocol's target prefix (`AmazonEC2ContainerRegistry_V20150921`), when the v2 model names one. */
  get targetPrefix(): string | undefined {
    return this.v2.metadata.targetPrefix;
  }

  operation(name: string): Operation | undefined {
    return this.v2.operations[name];
  }

  operations(): [string, Operation][] {
    return Object.entries(this.v2.operations);
  }

  /** The input of `operation` as a node of both models. */
  input(operation: string): ShapeNode {
    const op = this.v2.operations[operation];
    return new ShapeNode(this, op?.input ?? { type: 'structure', members: {} }, this.full.operations[operation]?.input);
  }

  resolve(model: 'v2' | 'full', s: Shape): Shape {
    if (!s.shape) return s;
    const { shape, ...own } = s;
    return { ...this.resolve(model, this[model].shapes[shape] ?? {}), ...own };
  }
}

/** One shape reached the same way in the v2 model and in botocore's (which may lack it). */
export class ShapeNode {
  readonly shape: Shape;
  private readonly model: ServiceModel;
  private readonly constraints: Shape | undefined;

  constructor(model: ServiceModel, v2: Shape, full: Shape | undefined) {
    this.model = model;
    this.shape = model.resolve('v2', v2);
    this.constraints = full ? model.resolve('full', full) : undefined;
  }

  get type(): string {
    return this.shape.type ?? 'string';
  }

  get required(): string[] {
    return this.shape.required ?? [];
  }

  memberNames(): string[] {
    return Object.keys(this.shape.members ?? {});
  }

  member(name: string): ShapeNode | undefined {
    const m = this.shape.members?.[name];
    return m ? new ShapeNode(this.model, m, this.constraints?.members?.[name]) : undefined;
  }

  /** The list's member, or the map's key or value. */
  child(which: 'member' | 'key' | 'value'): ShapeNode {
    return new ShapeNode(this.model, this.shape[which] ?? {}, this.constraints?.[which]);
  }

  /** The value constraints (enum, min, max, pattern): botocore's, else the v2 model's. */
  get limits(): Pick<Shape, 'enum' | 'min' | 'max' | 'pattern'> {
    const c = this.constraints ?? this.shape;
    return { enum: c.enum ?? this.shape.enum, min: c.min ?? this.shape.min, max: c.max ?? this.shape.max, pattern: c.pattern ?? this.shape.pattern };
  }
}

const patterns = new Map<string, RegExp | null>();

function compile(pattern: string, flags: string): RegExp | null {
  try {
    return new RegExp(`^(?:${pattern})$`, flags);
  } catch {
    return null;
  }
}

/** A model pattern as AWS applies it: to the whole value. Null when JavaScript cannot compile it. */
function compiled(pattern: string): RegExp | null {
  if (!patterns.has(pattern)) {
    patterns.set(pattern, compile(pattern, 'u') ?? compile(pattern, ''));
  }
  return patterns.get(pattern) ?? null;
}

/**
 * What is wrong with a string or number against the node's constraints, in
 * AWS's validation wording, or undefined. Lengths count code points, as AWS does.
 */
export function constraintProblem(node: ShapeNode, name: string, value: string | number): string | undefined {
  const { enum: allowed, min, max, pattern } = node.limits;
  if (typeof value === 'number') {
    if (min !== undefined && value < min) return `Value '${value}' at '${name}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`;
    if (max !== undefined && value > max) return `Value '${value}' at '${name}' failed to satisfy constraint: Member must have value less than or equal to ${max}`;
    return undefined;
  }
  if (allowed && !allowed.includes(value)) return `Value '${value}' at '${name}' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`;
  const length = Array.from(value).length; // code points, as AWS counts
  if (min !== undefined && length < min) return `Value '${value}' at '${name}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`;
  if (max !== undefined && length > max) return `Value at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`;
  const re = pattern === undefined ? null : compiled(pattern);
  if (pattern !== undefined && re && !re.test(value)) return `Value '${value}' at '${name}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern}`;
  return undefined;
}

/** A list's or map's entry count against its constraints. */
export function countProblem(node: ShapeNode, name: string, count: number): string | undefined {
  const { min, max } = node.limits;
  if (min !== undefined && count < min) return `Value at '${name}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`;
  if (max !== undefined && count > max) return `Value at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`;
  return undefined;
}
