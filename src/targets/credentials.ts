import type { STSClient, STSClientConfig } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/** Renew an assumed-role session this long before it expires: a step's calls must never carry one STS is about to refuse. */
export const SESSION_RENEW_BEFORE_MS = 5 * 60_000;
/** One hour: the longest a role allows by default (its MaxSessionDuration); renewed long before. */
export const SESSION_DURATION_SECONDS = 3_600;

export interface AssumedRoleInput {
  /** STS's settings (region, endpoint, the bot's own credentials): the client is made on first use. */
  sts: STSClientConfig;
  roleArn: string;
  /** Names the session in CloudTrail: the run it acts for (`dr-chatops-<run id>`). */
  sessionName: string;
  externalId?: string | undefined;
  now: () => number;
}

/**
 * Credentials of an assumed role (STS AssumeRole), kept until a few minutes
 * before they expire by `now`, then renewed; concurrent callers share one
 * renewal, and a failed renewal is not kept.
 *
 * The SDK caches a provider's answer by the real clock until its
 * `expiration`. This cache decides instead (its clock can be a test's), so
 * each answer says it has expired already: the SDK asks again on every
 * request, and is answered from here without a call to STS.
 */
export function assumedRoleCredentials(input: AssumedRoleInput): AwsCredentialIdentityProvider {
  let current: { credentials: AwsCredentialIdentity; renewAt: number } | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  let sts: STSClient | undefined;
  const renew = async (): Promise<AwsCredentialIdentity> => {
    // Loaded when a role is first assumed: a bot whose targets assume none never loads the STS client (start time).
    const { AssumeRoleCommand, STSClient: Client } = await import('@aws-sdk/client-sts');
    sts ??= new Client(input.sts);
    const { Credentials: c } = await sts
      .send(
        new AssumeRoleCommand({
          RoleArn: input.roleArn,
          RoleSessionName: input.sessionName,
          DurationSeconds: SESSION_DURATION_SECONDS,
          ...(input.externalId ? { ExternalId: input.externalId } : {}),
        }),
      )
      .catch((err: unknown) => {
        throw new AssumeRoleError(input.roleArn, err);
      });
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) throw new Error(`STS AssumeRole of ${input.roleArn} returned no credentials`);
    const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(0) };
    current = { credentials, renewAt: c.Expiration.getTime() - SESSION_RENEW_BEFORE_MS };
    return credentials;
  };
  return async () => {
    if (current && input.now() < current.renewAt) return current.credentials;
    pending ??= renew().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/**
 * Assuming a target's role failed (STS refused it, or could not be reached).
 * STS's own messages ("User: … is not authorized to perform: sts:AssumeRole
 * on resource: …", "Rate exceeded") do not name their code, and most do not
 * name the role: the failed step would show neither why nor which target.
 */
export class AssumeRoleError extends Error {
  /** STS's error code (AccessDenied, ExpiredToken, RegionDisabledException…), when it answered. */
  readonly code: string | undefined;
  /** A refusal a retry will not change (the trust policy, the external id, a disabled region): the step fails at once. */
  readonly permanent: boolean;

  constructor(roleArn: string, cause: unknown) {
    const code = cause instanceof Error && cause.name !== 'Error' ? cause.name : undefined;
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`STS AssumeRole of ${roleArn} failed: ${code ? `${code}: ` : ''}${detail}`, { cause });
    this.name = 'AssumeRoleError';
    this.code = code;
    this.permanent = code !== undefined && PERMANENT_STS_CODES.has(code);
  }
}

const PERMANENT_STS_CODES = new Set(['AccessDenied', 'InvalidClientTokenId', 'ValidationError', 'RegionDisabledException', 'MalformedPolicyDocument', 'PackedPolicyTooLarge']);

/** A valid RoleSessionName (2–64 of [\w+=,.@-]) for `session`. */
export function sessionName(session: string): string {
  return `dr-chatops-${session.replace(/[^\w+=,.@-]/g, '-')}`.slice(0, 64);
}
