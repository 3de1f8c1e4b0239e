/**
 * What the loopback fakes of AWS's JSON-protocol services share (CloudWatch
 * as the v3 SDK speaks it, awsJson1_0; ECR and Secrets Manager, awsJson1_1):
 * `POST /` with `X-Amz-Target: <prefix>.<Operation>`, JSON answers with
 * timestamps in epoch seconds, and errors as `{"__type": code, "message": …}`.
 *
 * A request goes through what AWS does, in its order: the signature and the
 * credentials (aws-sigv4.ts, session keys asked of the fake STS), the
 * operation, injected faults (`failNext`), the rate limit, the service model
 * and the documented rules the model cannot express (refusals recorded, see
 * aws-models/refusals.ts), then the fake's own answer. One fake serves every
 * region: each request is answered for the region it was signed for.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkJsonRequest, type JsonService } from './aws-models/json.ts';
import type { ModelProblem } from './aws-models/query.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { failureAnswer, type AwsFailure, FailureQueue, type RateLimit, TokenBuckets } from './aws-faults.ts';
import { checkSigV4, signingOptions, sigV4ErrorOf } from './aws-sigv4.ts';
import type { FakeSts } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';

export interface AwsJsonCall {
  /** The operation the target header named ('' when it named none the model knows). */
  operation: string;
  /** The region of the request's credential scope. */
  region?: string | undefined;
  accessKeyId?: string | undefined;
  /** The request body (secret values replaced by `[redacted]`). */
  input: Record<string, unknown>;
  /** The error code the fake answered with, if it refused the call. */
  error?: string | undefined;
}

/** An error a fake's answer throws: sent in the service's shape. */
export class AwsJsonError extends Error {
  readonly status: number;
  readonly code: string;
  /** Members the error's shape has besides `message` (ARC's `resourceId`, `resourceType`…). */
  readonly fields: Record<string, unknown>;

  constructor(code: string, message: string, status = 400, fields: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.fields = fields;
  }
}

export interface JsonProtocol {
  service: JsonService;
  /** The SigV4 signing name (`monitoring` for CloudWatch). */
  signingName: string;
  jsonVersion: '1.0' | '1.1';
  /**
   * CloudWatch is "query compatible": its error code is the query protocol's
   * (`InvalidParameterValue`), sent in `x-amzn-query-error: <code>;Sender`,
   * and `__type` names the modelled exception, given here by code.
   */
  queryCompatible?: Record<string, string>;
}

/** Who called and where: what an answer needs besides the input. */
export interface CallContext {
  region: string;
  accessKeyId: string;
}

export abstract class AwsJsonFake extends LoopbackFake {
  readonly calls: AwsJsonCall[] = [];
  /** Requests the service model (or a documented rule) refused. */
  readonly modelRefusals: (AwsJsonCall & ModelProblem)[] = [];
  /** Calls per second per operation before AWS answers Throttling; none when undefined. */
  rateLimit: RateLimit | undefined;
  /** Static keys whose secret the fake knows: their signatures are checked too (sessions from `trustSessionsFrom` always are). */
  readonly knownSecrets = new Map<string, string>();
  protected abstract readonly protocol: JsonProtocol;
  private readonly failures = new FailureQueue();
  private readonly buckets = new TokenBuckets();
  private sessionIssuer: FakeSts | undefined;

  /** Session credentials (ASIA…) are accepted only while `sts` says they are live, and their signatures are checked. */
  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  /** The next `times` calls of `operation` fail (`{status, code, message?}`) or are answered after `{delayMs}`. */
  failNext(operation: string, failure: AwsFailure, times = 1): void {
    this.failures.add(operation, failure, times);
  }

  callsTo(operation: string): AwsJsonCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  /** The fake's answer to a valid call; throws AwsJsonError for the service's errors. */
  protected abstract answer(operation: string, input: Record<string, unknown>, ctx: CallContext): unknown;

  /** A rule the service documents that its model cannot express, as the service words it. */
  protected documentedProblem(_operation: string, _input: Record<string, unknown>): ModelProblem | undefined {
    return undefined;
  }

  /** The input as the calls log keeps it: secret values left out. */
  protected redact(_operation: string, input: Record<string, unknown>): Record<string, unknown> {
    return input;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = req.headers['x-amz-target'];
    const checked = checkJsonRequest(this.protocol.service, Array.isArray(target) ? target[0] : target, raw);
    const operation = checked.operation ?? '';
    const call: AwsJsonCall = { operation, input: this.redact(operation, checked.input) };
    this.calls.push(call);
    const refuse = (status: number, code: string, message: string) => {
      call.error = code;
      this.sendError(res, status, code, message);
    };
    const { signer, problem: signing } = checkSigV4(req, raw, signingOptions(this.protocol.signingName, this.sessionIssuer, this.knownSecrets));
    call.region = signer?.region;
    call.accessKeyId = signer?.accessKeyId;
    if (signing || !signer) {
      const { status, code } = sigV4ErrorOf(signing?.kind ?? 'missing', this.protocol.queryCompatible ? 'query' : 'json');
      refuse(status, code, signing?.message ?? 'Missing Authentication Token');
      return;
    }
    if (!checked.operation) {
      // An operation the model does not know is refused as the service refuses it, and recorded like any model refusal.
      const problem = checked.problem ?? { code: 'UnknownOperationException', message: 'Unknown operation' };
      recordModelRefusal({ service: this.protocol.service, operation: String(target ?? ''), ...problem });
      refuse(400, problem.code, problem.message);
      return;
    }
    const injected = await failureAnswer(this.failures.take(operation));
    if (injected) {
      refuse(injected.status, injected.code, injected.message ?? `injected ${injected.code}`);
      return;
    }
    if (this.rateLimit && !this.buckets.take([`${signer.accessKeyId}:${signer.region}:${operation}`], this.rateLimit)) {
      refuse(400, this.protocol.queryCompatible ? 'Throttling' : 'ThrottlingException', 'Rate exceeded');
      return;
    }
    const problem = checked.problem ?? this.documentedProblem(operation, checked.input);
    if (problem) {
      this.modelRefusals.push({ ...call, ...problem });
      recordModelRefusal({ service: this.protocol.service, operation, ...problem });
      refuse(400, problem.code, problem.message);
      return;
    }
    try {
      const out = this.answer(operation, checked.input, { region: signer.region, accessKeyId: signer.accessKeyId });
      res.writeHead(200, { 'content-type': `application/x-amz-json-${this.protocol.jsonVersion}`, 'x-amzn-requestid': randomUUID() }).end(toJson(out));
    } catch (err) {
      // A fake's own shortfall (something it does not model) shows as a 500, not as a crash of the test worker.
      if (err instanceof AwsJsonError) {
        call.error = err.code;
        this.sendError(res, err.status, err.code, err.message, err.fields);
      }
      else refuse(500, 'InternalFailure', String(err));
    }
  }

  private sendError(res: ServerResponse, status: number, code: string, message: string, fields: Record<string, unknown> = {}): void {
    const headers: Record<string, string> = { 'content-type': `application/x-amz-json-${this.protocol.jsonVersion}`, 'x-amzn-requestid': randomUUID() };
    const compat = this.protocol.queryCompatible;
    let type = code;
    if (compat) {
      headers['x-amzn-query-error'] = `${code};Sender`;
      type = `com.amazonaws.${this.protocol.service}#${compat[code] ?? code}`;
    }
    res.writeHead(status, headers).end(JSON.stringify({ ...fields, __type: type, message }));
  }
}

/** JSON as the AWS JSON protocols write it: timestamps as epoch seconds, absent members left out. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const original = this[key];
    return original instanceof Date ? original.getTime() / 1_000 : v;
  });
}

/** An opaque page token over a position, as the services hand them out. */
export function pageToken(position: number): string {
  return Buffer.from(JSON.stringify({ p: position })).toString('base64');
}

/** The position of a token from `pageToken`, or undefined when it is not one. */
export function pagePosition(token: unknown): number | undefined {
  if (typeof token !== 'string') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { p?: unknown };
    return typeof parsed.p === 'number' && Number.isInteger(parsed.p) && parsed.p >= 0 ? parsed.p : undefined;
  } catch {
    return undefined;
  }
}
