/**
 * A loopback ARC zonal shift (restJson1, API-FACTS 8.2), as strict as AWS:
 * - every request signed with SigV4 for `arc-zonal-shift` (aws-sigv4.ts) and
 *   answered for the region it was signed for: a resource of another region
 *   is not found there;
 * - checked against the published model (aws-sdk v2's
 *   arc-zonal-shift-2022-10-30 plus botocore's constraints): routes, required
 *   members, `expiresIn` `^([1-9][0-9]*)(m|h)$`, comments of at most 128;
 * - then the documented rules: at most 72 h; `awayFrom` an AZ id of the
 *   region (InvalidAz) where the resource is (UnsupportedAz); one active
 *   customer shift per resource (409 ZonalShiftAlreadyExists, naming it);
 *   update or cancel of a shift no longer active 409 ZonalShiftStatusNotActive.
 * A shift expires at its expiry time (`now` is the fake's clock, which a test
 * may move). A managed resource's `appliedWeights` give its shifted AZ 0 once
 * the shift has applied (`applyAfterMs`), 1 otherwise.
 * Errors carry their type in `x-amzn-errortype` and `{message, reason?, zonalShiftId?}`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRestJsonRequest } from './aws-models/rest-json.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { checkSigV4, signingOptions, sigV4ErrorOf } from './aws-sigv4.ts';
import type { FakeSts } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';

export interface FakeShift {
  zonalShiftId: string;
  resourceIdentifier: string;
  awayFrom: string;
  comment: string;
  startTime: number;
  expiryTime: number;
  cancelled: boolean;
  appliesAt: number;
}

export interface ArcCall {
  operation: string;
  region?: string | undefined;
  method: string;
  path: string;
  body?: unknown;
  status?: number;
  error?: string;
}

/** An answer a test puts on the next call of an operation; `afterApply` does the call first, then loses the answer. */
export interface ArcFailure {
  status: number;
  code: string;
  message?: string;
  afterApply?: boolean;
}

class ArcError extends Error {
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

const AZ_ID = /^[a-z]{2,6}\d+-az\d+$/;
const MAX_MINUTES = 72 * 60;

export class FakeArcZonalShift extends LoopbackFake {
  readonly calls: ArcCall[] = [];
  readonly shifts = new Map<string, FakeShift>();
  readonly knownSecrets = new Map<string, string>();
  /** The fake's clock: expiry and application are judged by it. */
  now: () => number = Date.now;
  /** How long a new shift takes to apply (appliedStatus APPLIED, weight 0). */
  applyAfterMs = 200;
  /** Items per ListZonalShifts page unless the request asks for fewer. */
  pageSize = 100;
  private readonly resources = new Map<string, { region: string; zones: string[] }>();
  private readonly regionZones = new Map<string, Set<string>>();
  private readonly failures = new Map<string, ArcFailure[]>();
  private sessionIssuer: FakeSts | undefined;

  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  /** The AZ ids of a region (what `awayFrom` may name there). */
  setRegionZones(region: string, zoneIds: readonly string[]): this {
    this.regionZones.set(region, new Set(zoneIds));
    return this;
  }

  /** A managed resource (an ALB or NLB, an EKS cluster with zonal shift on) in the AZ ids given; its region is its ARN's. */
  addManagedResource(arn: string, zoneIds: readonly string[]): this {
    this.resources.set(arn, { region: arn.split(':')[3] ?? '', zones: [...zoneIds] });
    return this;
  }

  failNext(operation: string, failure: ArcFailure, times = 1): void {
    const list = this.failures.get(operation) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(operation, list);
  }

  callsTo(operation: string): ArcCall[] {
    return this.calls.filter((c) => c.operation === operation && c.error === undefined);
  }

  statusOf(shift: FakeShift): 'ACTIVE' | 'EXPIRED' | 'CANCELED' {
    if (shift.cancelled) return 'CANCELED';
    return this.now() >= shift.expiryTime ? 'EXPIRED' : 'ACTIVE';
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://x');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const call: ArcCall = { operation: '', method, path: url.pathname, ...(body !== undefined ? { body } : {}) };
    this.calls.push(call);
    const send = (status: number, out: unknown, errorType?: string) => {
      call.status = status;
      if (errorType) call.error = errorType;
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) }).end(JSON.stringify(out));
    };
    // AWS authenticates a request before it reads it.
    const { signer, problem: signing } = checkSigV4(req, raw, signingOptions('arc-zonal-shift', this.sessionIssuer, this.knownSecrets));
    call.region = signer?.region;
    if (signing) {
      const { code } = sigV4ErrorOf(signing.kind, 'json');
      send(signing.kind === 'incomplete' ? 400 : 403, { message: signing.message }, code);
      return;
    }
    const region = signer?.region ?? '';
    const checked = checkRestJsonRequest('arc-zonal-shift', method, url.pathname, url.searchParams, body, 'ValidationException');
    call.operation = checked.operation ?? `${method} ${url.pathname}`;
    if (checked.problem) {
      recordModelRefusal({ service: 'arc-zonal-shift', operation: call.operation, ...checked.problem });
      const unknown = checked.problem.code === 'UnknownOperationException';
      send(unknown ? 404 : 400, { message: checked.problem.message, ...(unknown ? {} : { reason: reasonOf(checked.problem.message) }) }, checked.problem.code);
      return;
    }
    const failure = this.failures.get(call.operation)?.shift();
    if (failure && !failure.afterApply) {
      send(failure.status, { message: failure.message ?? failure.code }, failure.code);
      return;
    }
    try {
      const [status, out] = this.answer(call.operation, region, url, (body ?? {}) as Record<string, unknown>);
      if (failure) send(failure.status, { message: failure.message ?? failure.code }, failure.code);
      else send(status, out);
    } catch (err) {
      if (!(err instanceof ArcError)) throw err;
      send(err.status, { message: err.message, ...err.extra }, err.code);
    }
  }

  private answer(operation: string, region: string, url: URL, input: Record<string, unknown>): [number, unknown] {
    const label = decodeURIComponent(url.pathname.split('/')[2] ?? '');
    switch (operation) {
      case 'StartZonalShift':
        return [201, this.json(this.startShift(region, input as { resourceIdentifier: string; awayFrom: string; expiresIn: string; comment: string }))];
      case 'UpdateZonalShift': {
        const shift = this.activeShift(region, label);
        if (input.expiresIn === undefined && input.comment === undefined) throw validation('MissingValue', 'Provide a new comment or expiresIn to update the zonal shift.');
        if (typeof input.expiresIn === 'string') shift.expiryTime = this.now() + minutes(input.expiresIn) * 60_000;
        if (typeof input.comment === 'string') shift.comment = input.comment;
        return [200, this.json(shift)];
      }
      case 'CancelZonalShift': {
        const shift = this.activeShift(region, label);
        shift.cancelled = true;
        return [200, this.json(shift)];
      }
      case 'ListZonalShifts':
        return [200, this.list(region, url.searchParams)];
      case 'GetManagedResource':
        return [200, this.managed(region, label)];
      default:
        throw new ArcError(501, 'InternalServerException', `The fake zonal shift does not implement ${operation}.`);
    }
  }

  private startShift(region: string, input: { resourceIdentifier: string; awayFrom: string; expiresIn: string; comment: string }): FakeShift {
    const duration = minutes(input.expiresIn);
    const resource = this.resourceIn(region, input.resourceIdentifier);
    const zones = this.regionZones.get(region) ?? new Set(resource.zones);
    if (!AZ_ID.test(input.awayFrom) || !zones.has(input.awayFrom)) {
      throw validation('InvalidAz', `${input.awayFrom} is not a valid Availability Zone ID in ${region}. Specify an AZ ID, such as use1-az1.`);
    }
    if (!resource.zones.includes(input.awayFrom)) throw validation('UnsupportedAz', `The resource is not deployed in ${input.awayFrom}.`);
    const active = [...this.shifts.values()].find((s) => s.resourceIdentifier === input.resourceIdentifier && this.statusOf(s) === 'ACTIVE');
    if (active) {
      throw new ArcError(409, 'ConflictException', 'A zonal shift is already active for this resource.', { reason: 'ZonalShiftAlreadyExists', zonalShiftId: active.zonalShiftId });
    }
    const now = this.now();
    const shift: FakeShift = {
      zonalShiftId: randomUUID(),
      resourceIdentifier: input.resourceIdentifier,
      awayFrom: input.awayFrom,
      comment: input.comment,
      startTime: now,
      expiryTime: now + duration * 60_000,
      cancelled: false,
      appliesAt: now + this.applyAfterMs,
    };
    this.shifts.set(shift.zonalShiftId, shift);
    return shift;
  }

  private resourceIn(region: string, arn: string): { region: string; zones: string[] } {
    const resource = this.resources.get(arn);
    if (!resource || resource.region !== region) throw new ArcError(404, 'ResourceNotFoundException', `The resource ${arn} was not found.`);
    return resource;
  }

  private activeShift(region: string, id: string): FakeShift {
    const shift = this.shifts.get(id);
    if (!shift || this.resources.get(shift.resourceIdentifier)?.region !== region) throw new ArcError(404, 'ResourceNotFoundException', `The zonal shift ${id} was not found.`);
    if (this.statusOf(shift) !== 'ACTIVE') throw new ArcError(409, 'ConflictException', `The zonal shift ${id} is not active.`, { reason: 'ZonalShiftStatusNotActive', zonalShiftId: id });
    return shift;
  }

  private list(region: string, query: URLSearchParams): unknown {
    const status = query.get('status');
    const resource = query.get('resourceIdentifier');
    const matching = [...this.shifts.values()].filter(
      (s) => this.resources.get(s.resourceIdentifier)?.region === region && (status === null || this.statusOf(s) === status) && (resource === null || s.resourceIdentifier === resource),
    );
    const from = Number(query.get('nextToken') ?? '0');
    if (!Number.isInteger(from) || from < 0 || from > matching.length) throw validation('InvalidToken', 'The nextToken is not valid.');
    const size = Math.min(this.pageSize, Number(query.get('maxResults') ?? this.pageSize));
    const page = matching.slice(from, from + size);
    return { items: page.map((s) => this.json(s)), ...(from + size < matching.length ? { nextToken: String(from + size) } : {}) };
  }

  private managed(region: string, arn: string): unknown {
    const resource = this.resourceIn(region, arn);
    const now = this.now();
    const active = [...this.shifts.values()].filter((s) => s.resourceIdentifier === arn && this.statusOf(s) === 'ACTIVE');
    const applied = active.find((s) => now >= s.appliesAt);
    return {
      arn,
      name: arn.split('/').at(-2) ?? arn,
      appliedWeights: Object.fromEntries(resource.zones.map((z) => [z, applied?.awayFrom === z ? 0 : 1])),
      zonalShifts: active.map((s) => {
        const summary = this.json(s);
        delete summary.status;
        return { ...summary, appliedStatus: s === applied ? 'APPLIED' : 'NOT_APPLIED', shiftType: 'ZONAL_SHIFT' };
      }),
      autoshifts: [],
      zonalAutoshiftStatus: 'DISABLED',
    };
  }

  /** A shift as the API answers it: timestamps in epoch seconds. */
  private json(s: FakeShift): Record<string, unknown> {
    return {
      zonalShiftId: s.zonalShiftId,
      resourceIdentifier: s.resourceIdentifier,
      awayFrom: s.awayFrom,
      comment: s.comment,
      startTime: s.startTime / 1_000,
      expiryTime: s.expiryTime / 1_000,
      status: this.statusOf(s),
    };
  }
}

function validation(reason: string, message: string): ArcError {
  return new ArcError(400, 'ValidationException', message, { reason });
}

/** The minutes of a model-valid expiresIn; more than 72 h is refused as AWS documents. */
function minutes(expiresIn: string): number {
  const m = /^([1-9][0-9]*)(m|h)$/.exec(expiresIn);
  const total = Number(m?.[1] ?? 0) * (m?.[2] === 'h' ? 60 : 1);
  if (total > MAX_MINUTES) throw validation('InvalidExpiresIn', `The expiresIn ${expiresIn} is longer than the maximum of 72 hours (4320 minutes).`);
  return total;
}

/** The ValidationException reason of a model refusal. */
function reasonOf(message: string): string {
  if (message.includes("'expiresIn'")) return 'InvalidExpiresIn';
  if (message.includes('must not be null')) return 'MissingValue';
  if (message.includes("'resourceIdentifier'")) return 'InvalidResourceIdentifier';
  return 'InvalidStatus';
}
