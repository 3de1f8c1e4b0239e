/**
 * What tests of the readiness fakes build their real SDK clients with: the
 * bot's static test key (the one `fakeAwsCredentials` puts in the
 * environment), a client configuration for a fake's URL and a region, the
 * error a call ends in, and session credentials from the fake STS.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { FakeSts } from './fake-sts.ts';

/** The bot's static key; a fake that knows it (`knownSecrets`) checks its signatures. */
export const BOT: Readonly<AwsCredentialIdentity> = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 'fake-secret-access-key-0000000000000000' };

/** A client for a fake: its URL, the region the requests are signed for, the bot's key, one attempt. */
export function clientConfig(url: string, region: string): { endpoint: string; region: string; credentials: AwsCredentialIdentity; maxAttempts: number } {
  return { endpoint: url, region, credentials: { ...BOT }, maxAttempts: 1 };
}

export interface SdkError {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The error `call` ends in, or undefined when it succeeds. */
export function errorOf(call: Promise<unknown>): Promise<SdkError | undefined> {
  return call.then(
    () => undefined,
    (e: unknown) => e as SdkError,
  );
}

/** Session credentials for `roleArn`, assumed with the bot's key from the fake STS. */
export async function assumeRole(sts: FakeSts, roleArn: string): Promise<AwsCredentialIdentity> {
  const client = new STSClient(clientConfig(sts.url, 'us-east-1'));
  try {
    const out = await client.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'readiness-test' }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('the fake STS issued no credentials');
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  } finally {
    client.destroy();
  }
}
