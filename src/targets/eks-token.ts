import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';

/** STS accepts a token for 15 minutes after it was signed; renew a minute early. */
export const EKS_TOKEN_LIFETIME_MS = 14 * 60_000;

export interface EksTokenInput {
  cluster: string;
  region: string;
  credentials: AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  /** STS host; `sts.<region>.amazonaws.com` (`.com.cn` in China) unless given. */
  stsHost?: string;
  now?: Date;
}

/**
 * A bearer token for an EKS cluster's API server, made the way `aws eks
 * get-token` makes it: an STS GetCallerIdentity URL presigned for 60 s with
 * the cluster name in the signed `x-k8s-aws-id` header, base64url-encoded
 * without padding behind `k8s-aws-v1.`. No call to STS is made here; the API
 * server makes it when it checks the token.
 */
export async function eksToken({ cluster, region, credentials, stsHost, now = new Date() }: EksTokenInput): Promise<{ token: string; expiresAt: number }> {
  const hostname = stsHost ?? tokenStsHost(region);
  const signer = new SignatureV4({ service: 'sts', region, credentials, sha256: Sha256 });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: hostname, 'x-k8s-aws-id': cluster },
  });
  // presign hoists only x-amz-* headers into the query: x-k8s-aws-id stays a signed header, as required.
  const signed = await signer.presign(request, { expiresIn: 60, signingDate: now });
  const query = Object.entries(signed.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((value) => `${encodeURIComponent(k)}=${encodeURIComponent(value ?? '')}`))
    .join('&');
  const url = `https://${hostname}/?${query}`;
  return { token: `k8s-aws-v1.${Buffer.from(url).toString('base64url')}`, expiresAt: now.getTime() + EKS_TOKEN_LIFETIME_MS };
}

/**
 * The STS host an EKS token is presigned for. The cluster's authenticator
 * accepts only AWS's own regional STS hosts, so this is never an endpoint
 * override (a proxy, a VPC endpoint, a test's fake): those serve AssumeRole.
 */
export function tokenStsHost(region: string): string {
  return `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}
