/**
 * A loopback AWS STS speaking the query protocol as @aws-sdk/client-sts calls
 * it (form-encoded `Action=AssumeRole&Version=2011-06-15…`, XML answers, XML
 * `<ErrorResponse>` errors). Roles are registered by the test with who may
 * assume them and the external id their trust policy requires; AssumeRole
 * issues session credentials (ASIA…) that expire by the fake's own clock.
 *
 * GetCallerIdentity answers who the calling credentials are: the assumed
 * role's session for session credentials, a user of `callerAccount` for
 * static keys.
 *
 * The other AWS fakes ask it whether a request's session credentials are
 * still good (`trustSessionsFrom`), so a test sees what AWS does with a key
 * that has expired or was never issued: the request is refused.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { checkQueryRequest } from './aws-models/query.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { LoopbackFake, readBody } from './loopback.ts';

/** Who signed a request (SigV4): its access key id and, for session credentials, the session token. */
export interface SigV4Caller {
  accessKeyId: string;
  sessionToken?: string | undefined;
}

/**
 * The access key id of a SigV4 `Authorization` header
 * (`AWS4-HMAC-SHA256 Credential=AKID/20261201/us-west-2/rds/aws4_request, SignedHeaders=…, Signature=…`),
 * or undefined when the header is missing or not SigV4.
 */
export function sigV4AccessKey(authorization: string | undefined): string | undefined {
  if (!authorization?.startsWith('AWS4-HMAC-SHA256 ')) return undefined;
  return /(?:^|[\s,])Credential=([^/,\s]+)\//.exec(authorization.slice('AWS4-HMAC-SHA256'.length))?.[1];
}

/** The caller of a request signed in its headers (not a presigned URL), with its session token if it sent one. */
export function sigV4Caller(headers: IncomingHttpHeaders): SigV4Caller | undefined {
  const accessKeyId = sigV4AccessKey(headers.authorization);
  if (!accessKeyId) return undefined;
  const token = headers['x-amz-security-token'];
  return { accessKeyId, sessionToken: Array.isArray(token) ? token[0] : token };
}

/** How a service judges a request's credentials: static keys are taken as they are; session keys must be live. */
export type CredentialStanding = 'static' | 'valid' | 'expired' | 'invalid';

export interface FakeRole {
  /** Access key ids the trust policy lets assume the role; anyone when absent. */
  trustedAccessKeys?: string[] | undefined;
  /** The sts:ExternalId the trust policy requires, if any. */
  externalId?: string | undefined;
  /** The role's MaxSessionDuration: DurationSeconds above it are refused (AWS's default is one hour). */
  maxSessionDurationSeconds?: number | undefined;
}

export interface FakeStsSession {
  roleArn: string;
  sessionName: string;
  /** By the fake's clock (`now`). */
  expiresAt: number;
  secretAccessKey: string;
  sessionToken: string;
}

export interface StsCall {
  action: string;
  roleArn?: string | undefined;
  sessionName?: string | undefined;
  externalId?: string | undefined;
  durationSeconds?: number | undefined;
  /** From the request's SigV4 Authorization header. */
  callerAccessKey?: string | undefined;
}

const NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

export class FakeSts extends LoopbackFake {
  /** The clock sessions expire by; a test sets it to move time. */
  now: () => number = Date.now;
  /** The account static (AKIA…) callers belong to, as AccessDenied names them. */
  callerAccount = '111111111111';
  readonly roles = new Map<string, FakeRole>();
  /** Issued session credentials, by access key id. */
  readonly sessions = new Map<string, FakeStsSession>();
  readonly calls: StsCall[] = [];
  /** Requests the service model refused (aws-models/). */
  readonly modelRefusals: (StsCall & { code: string; message: string })[] = [];

  addRole(arn: string, role: FakeRole = {}): this {
    if (!ROLE_ARN.test(arn)) throw new Error(`not a role ARN: ${arn}`);
    this.roles.set(arn, role);
    return this;
  }

  callsTo(action: string): StsCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  /**
   * What AWS makes of `caller`'s credentials now: a static key (AKIA…) is
   * taken as it is (the fakes accept any); a session key (ASIA…) is `valid`
   * only if this STS issued it with that session token and it has not expired.
   */
  standing(caller: SigV4Caller | undefined): CredentialStanding {
    if (!caller?.accessKeyId.startsWith('ASIA')) return 'static';
    const session = this.sessions.get(caller.accessKeyId);
    if (!session || session.sessionToken !== caller.sessionToken) return 'invalid';
    return this.now() >= session.expiresAt ? 'expired' : 'valid';
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const { Action: action = '', ...rest } = params;
    const caller = sigV4Caller(req.headers);
    const call: StsCall = {
      action,
      roleArn: rest.RoleArn,
      sessionName: rest.RoleSessionName,
      externalId: rest.ExternalId,
      durationSeconds: rest.DurationSeconds === undefined ? undefined : Number(rest.DurationSeconds),
      callerAccessKey: caller?.accessKeyId,
    };
    this.calls.push(call);
    // STS authenticates the caller before it looks at the request.
    if (!caller) {
      sendError(res, 403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
      return;
    }
    const refused = queryCredentialRefusal(this.standing(caller));
    if (refused) {
      sendError(res, 403, refused.code, refused.message);
      return;
    }
    const problem = checkQueryRequest('sts', action, rest) ?? documentedProblem(action, rest);
    if (problem) {
      this.modelRefusals.push({ ...call, ...problem });
      recordModelRefusal({ service: 'sts', operation: action, ...problem });
      sendError(res, 400, problem.code, problem.message);
      return;
    }
    if (action === 'GetCallerIdentity') {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(
        `<GetCallerIdentityResponse xmlns="${NAMESPACE}"><GetCallerIdentityResult>${this.callerIdentity(caller)}</GetCallerIdentityResult>` +
          `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
      return;
    }
    if (action !== 'AssumeRole') {
      sendError(res, 400, 'InvalidAction', `The fake STS does not implement ${action}.`);
      return;
    }
    const refusal = this.refusalOf(caller, rest);
    if (refusal) {
      sendError(res, refusal.status, refusal.code, refusal.message);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/xml' }).end(
      `<AssumeRoleResponse xmlns="${NAMESPACE}"><AssumeRoleResult>${this.assumeRole(rest)}</AssumeRoleResult>` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
    );
  }

  /** Why STS would not let `caller` assume the role, as it says it. */
  private refusalOf(caller: SigV4Caller, p: Record<string, string>): { status: number; code: string; message: string } | undefined {
    const roleArn = p.RoleArn ?? '';
    const role = this.roles.get(roleArn);
    const trusted = role && (role.trustedAccessKeys === undefined || role.trustedAccessKeys.includes(caller.accessKeyId));
    // An unknown role, an untrusted caller and a wrong or missing external id all get the same answer: STS does not say which.
    if (!role || !trusted || (role.externalId !== undefined && p.ExternalId !== role.externalId)) {
      return { status: 403, code: 'AccessDenied', message: `User: ${this.callerArn(caller)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}` };
    }
    const duration = p.DurationSeconds === undefined ? 3_600 : Number(p.DurationSeconds);
    if (duration > (role.maxSessionDurationSeconds ?? 3_600)) {
      return { status: 400, code: 'ValidationError', message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.' };
    }
    return undefined;
  }

  private assumeRole(p: Record<string, string>): string {
    const roleArn = p.RoleArn ?? '';
    const sessionName = p.RoleSessionName ?? '';
    const expiresAt = this.now() + (p.DurationSeconds === undefined ? 3_600 : Number(p.DurationSeconds)) * 1_000;
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const session = { roleArn, sessionName, expiresAt, secretAccessKey: randomBytes(30).toString('base64'), sessionToken: randomBytes(96).toString('base64') };
    this.sessions.set(accessKeyId, session);
    const [, partition = '', account = '', name = ''] = ROLE_ARN.exec(roleArn) ?? [];
    const roleId = uniqueId('AROA', roleArn);
    return (
      `<AssumedRoleUser><AssumedRoleId>${roleId}:${escape(sessionName)}</AssumedRoleId>` +
      `<Arn>arn:aws${partition}:sts::${account}:assumed-role/${escape(name)}/${escape(sessionName)}</Arn></AssumedRoleUser>` +
      `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${escape(session.secretAccessKey)}</SecretAccessKey>` +
      `<SessionToken>${escape(session.sessionToken)}</SessionToken><Expiration>${new Date(expiresAt).toISOString()}</Expiration></Credentials>`
    );
  }

  /** GetCallerIdentity's answer: the session's assumed role (UserId `<role id>:<session>`), else a user of `callerAccount`. */
  private callerIdentity(caller: SigV4Caller): string {
    const session = this.sessions.get(caller.accessKeyId);
    const account = session ? (ROLE_ARN.exec(session.roleArn)?.[2] ?? '') : this.callerAccount;
    const userId = session ? `${uniqueId('AROA', session.roleArn)}:${escape(session.sessionName)}` : uniqueId('AIDA', caller.accessKeyId);
    return `<Arn>${escape(this.callerArn(caller))}</Arn><UserId>${userId}</UserId><Account>${account}</Account>`;
  }

  /** The principal AccessDenied names: the assumed role of a session key, else a user in `callerAccount`. */
  private callerArn(caller: SigV4Caller): string {
    const session = this.sessions.get(caller.accessKeyId);
    if (!session) return `arn:aws:iam::${this.callerAccount}:user/dr-chatops`;
    const [, partition = '', account = '', name = ''] = ROLE_ARN.exec(session.roleArn) ?? [];
    return `arn:aws${partition}:sts::${account}:assumed-role/${name}/${session.sessionName}`;
  }
}

/**
 * AssumeRole's documented limits (the model states them too; kept here so the
 * fake refuses them even with a model that lost its constraints).
 */
function documentedProblem(action: string, p: Record<string, string>): { code: string; message: string } | undefined {
  if (action !== 'AssumeRole') return undefined;
  if (p.RoleSessionName !== undefined && !SESSION_NAME.test(p.RoleSessionName)) {
    return { code: 'ValidationError', message: `1 validation error detected: Value '${p.RoleSessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]{2,64}` };
  }
  const duration = p.DurationSeconds === undefined ? undefined : Number(p.DurationSeconds);
  if (duration !== undefined && !(duration >= 900 && duration <= 43_200)) {
    return { code: 'ValidationError', message: `1 validation error detected: Value '${p.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200` };
  }
  return undefined;
}

/** IAM's unique id of a principal (`AROA…` for a role, `AIDA…` for a user): the same for the same principal. */
function uniqueId(prefix: string, of: string): string {
  return `${prefix}${createHash('sha256').update(of).digest('hex').toUpperCase().slice(0, 17)}`;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendQueryError(res, NAMESPACE, status, code, message);
}

/** An AWS Query-protocol error (STS, RDS) as the services send it, in `namespace`'s XML. */
export function sendQueryError(res: ServerResponse, namespace: string, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'text/xml' })
    .end(
      `<ErrorResponse xmlns="${namespace}"><Error><Type>Sender</Type><Code>${code}</Code>` +
        `<Message>${escape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
}

/** How a Query-protocol service refuses credentials STS says are expired or were never issued; undefined when they are good. */
export function queryCredentialRefusal(standing: CredentialStanding | undefined): { code: string; message: string } | undefined {
  if (standing === 'expired') return { code: 'ExpiredToken', message: 'The security token included in the request is expired' };
  if (standing === 'invalid') return { code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
  return undefined;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
