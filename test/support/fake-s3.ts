/**
 * A loopback Amazon S3 for what the bot reads of Velero's backup storage:
 * ListObjectsV2 and GetObject, path-style (`/{bucket}/{key}`), XML answers and
 * S3's XML errors, as @aws-sdk/client-s3 calls it with an endpoint of its own.
 *
 * As strict as S3 where it matters here:
 * - every request must be SigV4-signed (with `x-amz-content-sha256`), for the
 *   bucket's own region (else AuthorizationHeaderMalformed naming it); session
 *   credentials are asked of the fake STS (`trustSessionsFrom`): unknown or
 *   expired ones are refused as S3 refuses them;
 * - every request must pass S3's service model (aws-models/s3.ts);
 * - a missing bucket is NoSuchBucket, a missing key NoSuchKey;
 * - lists page by `max-keys` (at most 1,000, or `maxKeys`), keys and common
 *   prefixes counted together, with an opaque continuation token.
 *
 * For the readiness checklist it also answers GetBucketVersioning (Status
 * Enabled|Suspended, absent when versioning was never set) and
 * GetBucketReplication (404 ReplicationConfigurationNotFoundError when there
 * is none), as the test sets them; `failNext` fails or delays an operation.
 *
 * Velero's layout is written by `putVeleroBackup` (`<prefix>/backups/<name>/`
 * with `velero-backup.json`), and read by a fake Velero's sync through
 * `veleroStore` (fake-velero.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { checkS3Request } from './aws-models/s3.ts';
import { failureAnswer, type AwsFailure, FailureQueue } from './aws-faults.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { type BackupOptions, type Obj, veleroBackup, type VeleroBackupStore } from './fake-velero.ts';
import { type FakeSts, sigV4Caller } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';

interface StoredObject {
  body: Buffer;
  lastModified: Date;
}

interface Bucket {
  region: string;
  objects: Map<string, StoredObject>;
  versioning?: { status: 'Enabled' | 'Suspended'; mfaDelete?: 'Enabled' | 'Disabled' };
  replication?: S3Replication;
}

/** A bucket's replication configuration, as GetBucketReplication answers it. */
export interface S3Replication {
  role: string;
  rules: { id?: string; priority?: number; prefix?: string; status: 'Enabled' | 'Disabled'; destinationBucket: string; storageClass?: string; deleteMarkerReplication?: 'Enabled' | 'Disabled' }[];
}

export interface S3Call {
  method: string;
  operation?: string | undefined;
  bucket: string;
  key?: string | undefined;
  query: Record<string, string>;
  /** From the SigV4 Authorization header: who signed, for which region. */
  accessKeyId?: string | undefined;
  region?: string | undefined;
}

class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, string>;
  constructor(status: number, code: string, message: string, extra: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

const NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MAX_KEYS = 1_000;

export class FakeS3 extends LoopbackFake {
  readonly buckets = new Map<string, Bucket>();
  readonly calls: S3Call[] = [];
  /** Requests the service model refused. */
  readonly modelRefusals: (S3Call & { code: string; message: string })[] = [];
  /** The most keys and common prefixes one list page holds, whatever `max-keys` asks (S3: 1,000). */
  maxKeys = MAX_KEYS;
  private sessionIssuer: FakeSts | undefined;
  private readonly failures = new FailureQueue();

  /** The next `times` calls of `operation` (ListObjectsV2, GetBucketVersioning…) fail (`{status, code, message?}`) or are answered after `{delayMs}`. */
  failNext(operation: string, failure: AwsFailure, times = 1): void {
    this.failures.add(operation, failure, times);
  }

  /** Versioning as PutBucketVersioning leaves it (never set: GetBucketVersioning answers no Status). */
  setVersioning(bucket: string, status: 'Enabled' | 'Suspended' | undefined, mfaDelete?: 'Enabled' | 'Disabled'): void {
    const b = this.mustBucket(bucket);
    if (status === undefined) delete b.versioning;
    else b.versioning = { status, ...(mfaDelete ? { mfaDelete } : {}) };
  }

  /** The bucket's replication configuration; undefined removes it (ReplicationConfigurationNotFoundError). */
  setReplication(bucket: string, replication: S3Replication | undefined): void {
    const b = this.mustBucket(bucket);
    if (replication === undefined) delete b.replication;
    else b.replication = replication;
  }

  private mustBucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw new Error(`no bucket ${name}`);
    return b;
  }

  /** Session credentials (ASIA…) are accepted only while `sts` says they are live, as S3 checks them. */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  addBucket(name: string, region: string): this {
    this.buckets.set(name, { region, objects: new Map() });
    return this;
  }

  putObject(bucket: string, key: string, body: string | Buffer): void {
    const b = this.buckets.get(bucket);
    if (!b) throw new Error(`no bucket ${bucket}`);
    b.objects.set(key, { body: Buffer.from(body), lastModified: new Date() });
  }

  /**
   * A backup as Velero stores it in its location: `velero-backup.json` (the
   * Backup object, as Velero's finalizer writes it), the contents (here the
   * objects as gzipped JSON, in place of Velero's tarball) and the log.
   */
  putVeleroBackup(bucket: string, prefix: string, name: string, options: BackupOptions): void {
    const dir = `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}backups/${name}/`;
    this.putObject(bucket, `${dir}velero-backup.json`, JSON.stringify(veleroBackup(name, options), null, 2));
    this.putObject(bucket, `${dir}${name}.tar.gz`, gzipSync(JSON.stringify(options.contents ?? [])));
    this.putObject(bucket, `${dir}${name}-logs.gz`, gzipSync(`backup ${name} completed\n`));
  }

  /** The location `<bucket>/<prefix>` as a Velero backup sync reads it. */
  veleroStore(bucket: string, prefix: string): VeleroBackupStore {
    const base = `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}backups/`;
    const objects = () => this.buckets.get(bucket)?.objects ?? new Map<string, StoredObject>();
    const read = (key: string) => objects().get(key)?.body;
    return {
      backupNames: () => [...new Set([...objects().keys()].filter((k) => k.startsWith(base)).map((k) => k.slice(base.length).split('/')[0] ?? ''))].filter(Boolean),
      backupJson: (name) => {
        const body = read(`${base}${name}/velero-backup.json`);
        return body ? (JSON.parse(body.toString('utf8')) as Obj) : undefined;
      },
      contents: (name) => {
        const body = read(`${base}${name}/${name}.tar.gz`);
        const objs = body ? (JSON.parse(gunzipSync(body).toString('utf8')) as Obj[]) : [];
        return objs.length ? objs : undefined;
      },
    };
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const [, bucketName = '', ...rest] = url.pathname.split('/');
    const key = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
    const caller = sigV4Caller(req.headers);
    const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(req.headers.authorization ?? '')?.[1];
    const call: S3Call = { method, bucket: decodeURIComponent(bucketName), key: key || undefined, query: Object.fromEntries(url.searchParams), accessKeyId: caller?.accessKeyId, region };
    this.calls.push(call);
    try {
      this.authenticate(req, caller, call);
      const bucket = this.buckets.get(call.bucket);
      if (!bucket) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: call.bucket });
      if (region !== bucket.region) {
        throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${region ?? ''}' is wrong; expecting '${bucket.region}'`, { Region: bucket.region });
      }
      const checked = checkS3Request(method, call.key, url.searchParams);
      call.operation = checked.operation;
      if (checked.problem) {
        this.modelRefusals.push({ ...call, ...checked.problem });
        recordModelRefusal({ service: 's3', operation: checked.operation ?? method, ...checked.problem });
        throw new S3Error(checked.problem.code === 'NotImplemented' ? 501 : 400, checked.problem.code, checked.problem.message);
      }
      const injected = await failureAnswer(this.failures.take(checked.operation ?? ''));
      if (injected) throw new S3Error(injected.status, injected.code, injected.message ?? `injected ${injected.code}`);
      if (checked.operation === 'ListObjectsV2') this.list(res, call.bucket, bucket, url.searchParams);
      else if (checked.operation === 'GetObject') this.get(res, bucket, call.key ?? '');
      else if (checked.operation === 'GetBucketVersioning') this.xml(res, versioningXml(bucket));
      else if (checked.operation === 'GetBucketReplication') this.xml(res, replicationXml(call.bucket, bucket));
      else throw new S3Error(501, 'NotImplemented', `The fake S3 does not implement ${checked.operation ?? method}`);
    } catch (err) {
      const e = err instanceof S3Error ? err : new S3Error(500, 'InternalError', String(err));
      const extra = Object.entries(e.extra).map(([k, v]) => `<${k}>${escape(v)}</${k}>`).join('');
      res
        .writeHead(e.status, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() })
        .end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${escape(e.message)}</Message>${extra}<RequestId>${randomUUID()}</RequestId></Error>`);
    }
  }

  /** S3 authenticates before it looks at the bucket. */
  private authenticate(req: IncomingMessage, caller: ReturnType<typeof sigV4Caller>, call: S3Call): void {
    if (!caller) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    if (!req.headers['x-amz-content-sha256']) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    const standing = this.sessionIssuer?.standing(caller);
    if (standing === 'expired') throw new S3Error(400, 'ExpiredToken', 'The provided token has expired.');
    if (standing === 'invalid') throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: call.accessKeyId ?? '' });
  }

  private list(res: ServerResponse, name: string, bucket: Bucket, q: URLSearchParams): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeys = Math.min(Number(q.get('max-keys') ?? MAX_KEYS), this.maxKeys);
    const after = q.get('continuation-token');
    const entries: { key?: string; prefix?: string }[] = [];
    const prefixes = new Set<string>();
    for (const key of [...bucket.objects.keys()].filter((k) => k.startsWith(prefix)).sort()) {
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut < 0) entries.push({ key });
      else {
        const common = key.slice(0, cut + delimiter.length);
        if (!prefixes.has(common)) entries.push({ prefix: common });
        prefixes.add(common);
      }
    }
    const last = after ? Buffer.from(after, 'base64url').toString('utf8') : undefined;
    const rest = last === undefined ? entries : entries.filter((e) => (e.key ?? e.prefix ?? '') > last);
    const page = rest.slice(0, maxKeys);
    const truncated = rest.length > page.length;
    const next = truncated ? Buffer.from(page.at(-1)?.key ?? page.at(-1)?.prefix ?? '').toString('base64url') : undefined;
    const url = q.get('encoding-type') === 'url';
    const text = (s: string) => escape(url ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${NAMESPACE}"><Name>${escape(name)}</Name><Prefix>${text(prefix)}</Prefix>` +
      (delimiter ? `<Delimiter>${text(delimiter)}</Delimiter>` : '') +
      `<MaxKeys>${String(maxKeys)}</MaxKeys>${url ? '<EncodingType>url</EncodingType>' : ''}<KeyCount>${String(page.length)}</KeyCount><IsTruncated>${String(truncated)}</IsTruncated>` +
      (after ? `<ContinuationToken>${escape(after)}</ContinuationToken>` : '') +
      (next ? `<NextContinuationToken>${next}</NextContinuationToken>` : '') +
      page
        .map((e) => {
          if (e.prefix !== undefined) return `<CommonPrefixes><Prefix>${text(e.prefix)}</Prefix></CommonPrefixes>`;
          const o = bucket.objects.get(e.key ?? '');
          return `<Contents><Key>${text(e.key ?? '')}</Key><LastModified>${o?.lastModified.toISOString() ?? ''}</LastModified><ETag>&quot;${etag(o?.body)}&quot;</ETag><Size>${String(o?.body.length ?? 0)}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('') +
      '</ListBucketResult>';
    res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() }).end(body);
  }

  private xml(res: ServerResponse, body: string): void {
    res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  }

  private get(res: ServerResponse, bucket: Bucket, key: string): void {
    const o = bucket.objects.get(key);
    if (!o) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    res
      .writeHead(200, { 'content-type': 'binary/octet-stream', 'content-length': String(o.body.length), etag: `"${etag(o.body)}"`, 'last-modified': o.lastModified.toUTCString(), 'x-amz-request-id': randomUUID() })
      .end(o.body);
  }
}

function versioningXml(bucket: Bucket): string {
  const v = bucket.versioning;
  if (!v) return `<VersioningConfiguration xmlns="${NAMESPACE}"/>`;
  return `<VersioningConfiguration xmlns="${NAMESPACE}"><Status>${v.status}</Status>${v.mfaDelete ? `<MfaDelete>${v.mfaDelete}</MfaDelete>` : ''}</VersioningConfiguration>`;
}

function replicationXml(name: string, bucket: Bucket): string {
  const r = bucket.replication;
  if (!r) throw new S3Error(404, 'ReplicationConfigurationNotFoundError', 'The replication configuration was not found', { BucketName: name });
  const rules = r.rules.map(
    (rule, i) =>
      `<Rule>${rule.id !== undefined ? `<ID>${escape(rule.id)}</ID>` : ''}<Priority>${String(rule.priority ?? i + 1)}</Priority><Filter><Prefix>${escape(rule.prefix ?? '')}</Prefix></Filter><Status>${rule.status}</Status>` +
      `<Destination><Bucket>${escape(rule.destinationBucket)}</Bucket>${rule.storageClass ? `<StorageClass>${rule.storageClass}</StorageClass>` : ''}</Destination>` +
      `<DeleteMarkerReplication><Status>${rule.deleteMarkerReplication ?? 'Disabled'}</Status></DeleteMarkerReplication></Rule>`,
  );
  return `<ReplicationConfiguration xmlns="${NAMESPACE}"><Role>${escape(r.role)}</Role>${rules.join('')}</ReplicationConfiguration>`;
}

function etag(body: Buffer | undefined): string {
  return createHash('md5').update(body ?? Buffer.alloc(0)).digest('hex');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
