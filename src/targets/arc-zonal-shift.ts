import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * ARC zonal shift (API-FACTS 8.2), called without an SDK client (none can be
 * installed here): restJson1 requests signed with SigV4 for `arc-zonal-shift`
 * in the resource's region, sent with fetch. Each call names its operation,
 * which is also its IAM action (`arc-zonal-shift:<operation>`).
 */
export const ZONAL_SHIFT_SIGNING_NAME = 'arc-zonal-shift';

/** `^([1-9][0-9]*)(m|h)$`, at most 72 hours (the model's pattern, the docs' limit). */
export const EXPIRES_IN = /^([1-9][0-9]*)(m|h)$/;
export const MAX_EXPIRES_IN_MINUTES = 72 * 60;
export const MAX_COMMENT = 128;

export type ZonalShiftStatus = 'ACTIVE' | 'EXPIRED' | 'CANCELED';

export interface ZonalShift {
  zonalShiftId: string;
  resourceIdentifier: string;
  /** An AZ id (use1-az1). */
  awayFrom: string;
  comment: string;
  status: ZonalShiftStatus | (string & {});
  startTime: Date;
  expiryTime: Date;
}

export interface ZonalShiftInResource extends Omit<ZonalShift, 'status'> {
  appliedStatus: 'APPLIED' | 'NOT_APPLIED' | (string & {});
  shiftType?: string | undefined;
}

export interface ManagedResource {
  arn?: string | undefined;
  name?: string | undefined;
  /** By AZ id: 1 takes traffic, 0 is shifted away. */
  appliedWeights: Record<string, number>;
  zonalShifts: ZonalShiftInResource[];
}

/** The minutes an `expiresIn` such as `30m` or `2h` stands for, or undefined when it is not one. */
export function expiresInMinutes(expiresIn: string): number | undefined {
  const m = EXPIRES_IN.exec(expiresIn);
  if (!m || expiresIn.length > 5) return undefined;
  return Number(m[1]) * (m[2] === 'h' ? 60 : 1);
}

/** A refusal of the zonal shift API, in words a person can act on. */
export class ZonalShiftError extends Error {
  readonly status: number;
  /** The error type (`ConflictException`, `ValidationException` …). */
  readonly code: string;
  /** ConflictException's and ValidationException's `reason` (ZonalShiftAlreadyExists, InvalidAz …). */
  readonly reason: string | undefined;
  /** The shift a ConflictException is about. */
  readonly zonalShiftId: string | undefined;
  /** Retrying cannot help (bad input, access denied, a conflict): the step fails at once. */
  readonly permanent: boolean;

  constructor(message: string, details: { status: number; code: string; reason?: string | undefined; zonalShiftId?: string | undefined }) {
    super(message);
    this.name = 'ZonalShiftError';
    this.status = details.status;
    this.code = details.code;
    this.reason = details.reason;
    this.zonalShiftId = details.zonalShiftId;
    this.permanent = details.status < 500 && details.status !== 429;
  }
}

export interface ArcZonalShiftOptions {
  /** The region the resources are in (zonal shift is regional); a provider when the SDK's chain decides it. */
  region: string | (() => Promise<string>);
  credentials: AwsCredentialIdentityProvider;
  /** An endpoint of its own (a VPC endpoint, a test's fake); `https://arc-zonal-shift.<region>.amazonaws.com` otherwise. */
  endpoint?: string | undefined;
  /** Attempts for throttling and 5xx answers (the engine retries again with its own backoff). */
  maxAttempts?: number;
}

type Operation = 'StartZonalShift' | 'UpdateZonalShift' | 'CancelZonalShift' | 'ListZonalShifts' | 'GetManagedResource';

interface Call {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** What the call was about, for messages: `zonal shift 1a2b…`, `arn:aws:…`. */
  about: string;
}

export class ArcZonalShiftClient {
  private readonly options: ArcZonalShiftOptions;

  constructor(options: ArcZonalShiftOptions) {
    this.options = options;
  }

  async region(): Promise<string> {
    const { region } = this.options;
    return typeof region === 'string' ? region : region();
  }

  /** Moves the resource's traffic away from AZ id `awayFrom` until `expiresIn` (`30m`, `2h`; at most 72 h) from now. */
  async startZonalShift(input: { resourceIdentifier: string; awayFrom: string; expiresIn: string; comment: string }): Promise<ZonalShift> {
    checkExpiresIn(input.expiresIn);
    checkComment(input.comment);
    const { resourceIdentifier, awayFrom, expiresIn, comment } = input;
    return zonalShiftOf(await this.call('StartZonalShift', { method: 'POST', path: '/zonalshifts', body: { resourceIdentifier, awayFrom, expiresIn, comment }, about: resourceIdentifier }));
  }

  /** Sets a new expiry (`expiresIn` from now) or comment on an active shift. */
  async updateZonalShift(zonalShiftId: string, input: { expiresIn?: string; comment?: string }): Promise<ZonalShift> {
    if (input.expiresIn !== undefined) checkExpiresIn(input.expiresIn);
    if (input.comment !== undefined) checkComment(input.comment);
    return zonalShiftOf(await this.call('UpdateZonalShift', { method: 'PATCH', path: `/zonalshifts/${encodeURIComponent(zonalShiftId)}`, body: input, about: `zonal shift ${zonalShiftId}` }));
  }

  async cancelZonalShift(zonalShiftId: string): Promise<ZonalShift> {
    return zonalShiftOf(await this.call('CancelZonalShift', { method: 'DELETE', path: `/zonalshifts/${encodeURIComponent(zonalShiftId)}`, about: `zonal shift ${zonalShiftId}` }));
  }

  /** Every shift with this status (and on this resource), all pages. */
  async listZonalShifts(filter: { status?: ZonalShiftStatus; resourceIdentifier?: string } = {}): Promise<ZonalShift[]> {
    const shifts: ZonalShift[] = [];
    let nextToken: string | undefined;
    do {
      const query: Record<string, string> = { ...filter, ...(nextToken ? { nextToken } : {}) };
      const page = (await this.call('ListZonalShifts', { method: 'GET', path: '/zonalshifts', query, about: filter.resourceIdentifier ?? 'zonal shifts' })) as { items?: unknown[]; nextToken?: string };
      shifts.push(...(page.items ?? []).map(zonalShiftOf));
      nextToken = page.nextToken;
    } while (nextToken);
    return shifts;
  }

  /** The resource as zonal shift manages it: its weights per AZ id and the shifts on it. A 404 means it is not a managed resource. */
  async getManagedResource(resourceIdentifier: string): Promise<ManagedResource> {
    const out = (await this.call('GetManagedResource', { method: 'GET', path: `/managedresources/${encodeURIComponent(resourceIdentifier)}`, about: resourceIdentifier })) as {
      arn?: string;
      name?: string;
      appliedWeights?: Record<string, number>;
      zonalShifts?: Record<string, unknown>[];
    };
    return {
      arn: out.arn,
      name: out.name,
      appliedWeights: out.appliedWeights ?? {},
      zonalShifts: (out.zonalShifts ?? []).map((z) => ({ ...zonalShiftOf(z), appliedStatus: typeof z.appliedStatus === 'string' ? z.appliedStatus : '', shiftType: typeof z.shiftType === 'string' ? z.shiftType : undefined })),
    };
  }

  private async call(operation: Operation, call: Call): Promise<unknown> {
    const region = await this.region();
    const base = new URL(this.options.endpoint ?? `https://arc-zonal-shift.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`);
    const prefix = base.pathname.replace(/\/$/, '');
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const signer = new SignatureV4({ service: ZONAL_SHIFT_SIGNING_NAME, region, credentials: this.options.credentials, sha256: Sha256 });
    const maxAttempts = this.options.maxAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const request = new HttpRequest({
        method: call.method,
        protocol: base.protocol,
        hostname: base.hostname,
        ...(base.port ? { port: Number(base.port) } : {}),
        path: `${prefix}${call.path}`,
        query: call.query ?? {},
        headers: { host: base.host, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body } : {}),
      });
      const signed = await signer.sign(request);
      const search = new URLSearchParams(call.query ?? {}).toString();
      const headers = Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name !== 'host'));
      const res = await fetch(`${base.protocol}//${base.host}${prefix}${call.path}${search ? `?${search}` : ''}`, {
        method: call.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.ok) return text ? (JSON.parse(text) as unknown) : {};
      const error = errorOf(operation, call.about, region, res, text);
      if (error.permanent || attempt >= maxAttempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt * (0.5 + Math.random() / 2)));
    }
  }
}

function checkExpiresIn(expiresIn: string): void {
  const minutes = expiresInMinutes(expiresIn);
  if (minutes === undefined || minutes > MAX_EXPIRES_IN_MINUTES) {
    throw new ZonalShiftError(`expiresIn \`${expiresIn.slice(0, 20)}\` is not a zonal shift's expiry: write a whole number of minutes or hours, like 30m or 2h, at most 72h`, {
      status: 400,
      code: 'ValidationException',
      reason: 'InvalidExpiresIn',
    });
  }
}

function checkComment(comment: string): void {
  if (Array.from(comment).length > MAX_COMMENT) throw new ZonalShiftError(`a zonal shift's comment is at most ${MAX_COMMENT} characters (this one has ${Array.from(comment).length})`, { status: 400, code: 'ValidationException' });
}

/** restJson1 timestamps are epoch seconds. */
function timeOf(value: unknown): Date {
  return new Date(typeof value === 'number' ? value * 1_000 : typeof value === 'string' ? Date.parse(value) : Number.NaN);
}

function zonalShiftOf(raw: unknown): ZonalShift {
  const z = (raw ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    zonalShiftId: text(z.zonalShiftId),
    resourceIdentifier: text(z.resourceIdentifier),
    awayFrom: text(z.awayFrom),
    comment: text(z.comment),
    status: text(z.status),
    startTime: timeOf(z.startTime),
    expiryTime: timeOf(z.expiryTime),
  };
}

/** The error type: `x-amzn-errortype` (its part before any `:`), else the body's `__type` or `code`. */
function errorTypeOf(res: Response, body: Record<string, unknown>): string {
  const header = res.headers.get('x-amzn-errortype');
  const raw = header ?? (typeof body.__type === 'string' ? body.__type : typeof body.code === 'string' ? body.code : `HTTP ${res.status}`);
  return (raw.split(':')[0] ?? raw).split('#').at(-1) ?? raw;
}

function errorOf(operation: Operation, about: string, region: string, res: Response, text: string): ZonalShiftError {
  let body: Record<string, unknown>;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { message: text.slice(0, 200) };
  }
  const code = errorTypeOf(res, body);
  const reason = typeof body.reason === 'string' ? body.reason : undefined;
  const zonalShiftId = typeof body.zonalShiftId === 'string' ? body.zonalShiftId : undefined;
  const said = typeof body.message === 'string' ? body.message : typeof body.Message === 'string' ? body.Message : '';
  const details = { status: res.status, code, reason, zonalShiftId };
  const aws = `(${code}${reason ? ` ${reason}` : ''}${said ? `: ${said}` : ''})`;
  const what = `${operation} on ${about} in ${region}`;
  switch (res.status) {
    case 409:
      if (reason === 'ZonalShiftAlreadyExists') {
        return new ZonalShiftError(`${about} already has an active zonal shift${zonalShiftId ? ` (${zonalShiftId})` : ''}: AWS allows one at a time per resource; extend or cancel that one instead ${aws}`, details);
      }
      if (reason === 'ZonalShiftStatusNotActive') return new ZonalShiftError(`${about} is no longer active (it expired or was cancelled), so it cannot be changed ${aws}`, details);
      if (reason === 'SimultaneousZonalShiftsConflict') return new ZonalShiftError(`${about} conflicts with another zonal shift under way in ${region}; retry when it settles ${aws}`, details);
      return new ZonalShiftError(`${what} conflicts with the resource's state ${aws}`, details);
    case 400:
      if (reason === 'InvalidAz' || reason === 'UnsupportedAz') {
        return new ZonalShiftError(`${what} was refused: awayFrom must be an Availability Zone id (like use1-az1) of a zone the resource is in, in ${region} ${aws}`, details);
      }
      return new ZonalShiftError(`${what} was refused as invalid ${aws}`, details);
    case 403:
      return new ZonalShiftError(`the target's credentials may not call arc-zonal-shift:${operation} on ${about} (deploy/iam-policy.json grants it) ${aws}`, details);
    case 404:
      return operation === 'GetManagedResource' || operation === 'StartZonalShift'
        ? new ZonalShiftError(`${about} is not a zonal shift managed resource in ${region}: it must be an ALB or NLB (or an EKS cluster with zonal shift enabled) in that region ${aws}`, details)
        : new ZonalShiftError(`${about} was not found in ${region} ${aws}`, details);
    case 429:
      return new ZonalShiftError(`zonal shift throttled ${what}; it is retried ${aws}`, details);
    default:
      return new ZonalShiftError(`zonal shift failed ${what} with HTTP ${res.status} ${aws}`, details);
  }
}
