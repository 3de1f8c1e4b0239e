import { checkQueryRequest } from '../aws-models/query.ts';
import { recordModelRefusal } from '../aws-models/refusals.ts';
import type { FakeSts, SigV4Caller } from '../fake-sts.ts';
import { KubeError } from '../kube-error.ts';

/** The presigned STS URL inside an EKS bearer token (`Bearer k8s-aws-v1.<base64url>`), or undefined when it is none. */
function presignedUrl(header: string | undefined): URL | undefined {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
  if (!token.startsWith('k8s-aws-v1.')) return undefined;
  try {
    return new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Who signed an EKS bearer token: the access key id of its presigned URL's
 * `X-Amz-Credential` (`AKID/20261201/us-west-2/sts/aws4_request`) and, for
 * session credentials, its `X-Amz-Security-Token`; undefined when the header
 * carries no EKS token.
 */
export function eksTokenSigner(header: string | undefined): SigV4Caller | undefined {
  const q = presignedUrl(header)?.searchParams;
  const accessKeyId = /^([^/]+)\//.exec(q?.get('X-Amz-Credential') ?? '')?.[1];
  if (!q || !accessKeyId) return undefined;
  const sessionToken = q.get('X-Amz-Security-Token');
  return { accessKeyId, ...(sessionToken !== null ? { sessionToken } : {}) };
}

/**
 * What the EKS authenticator checks of a bearer token: `k8s-aws-v1.` + base64url
 * (no padding) of a presigned STS GetCallerIdentity URL that signs the
 * `x-k8s-aws-id` header, within 4 KiB. (Which cluster it names is in the
 * signature, which only STS can check.) Like aws-iam-authenticator, it refuses
 * a token 15 minutes after its X-Amz-Date, whatever X-Amz-Expires says.
 * With `sts` (the STS the token's GetCallerIdentity would reach), a token
 * signed with session credentials (ASIA…) that STS never issued, or that have
 * expired by its clock, is refused as STS would refuse the call.
 * Returns who signed it.
 */
export function checkEksToken(header: string | undefined, now: number, sts?: Pick<FakeSts, 'standing'>): SigV4Caller {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
  const fail = (why: string) => new KubeError(401, 'Unauthorized', `Unauthorized: ${why}`);
  if (!token.startsWith('k8s-aws-v1.') || token.length > 4096) throw fail('not an EKS token');
  const encoded = token.slice('k8s-aws-v1.'.length);
  if (encoded.includes('=') || /[+/]/.test(encoded)) throw fail('token must be base64url without padding');
  const url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
  const q = url.searchParams;
  const ok =
    url.protocol === 'https:' &&
    /^sts\.[a-z0-9-]+\.amazonaws\.com$/.test(url.hostname) &&
    q.get('Action') === 'GetCallerIdentity' &&
    q.get('Version') === '2011-06-15' &&
    q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' &&
    q.get('X-Amz-Expires') === '60' &&
    (q.get('X-Amz-SignedHeaders') ?? '').split(';').includes('x-k8s-aws-id') &&
    /^[0-9a-f]{64}$/.test(q.get('X-Amz-Signature') ?? '');
  if (!ok) throw fail(`malformed presigned URL ${url.origin}`);
  // What STS would check of the presigned request itself: its model.
  const stsParams = Object.fromEntries([...q].filter(([k]) => !k.startsWith('X-Amz-') && k !== 'Action'));
  const problem = checkQueryRequest('sts', 'GetCallerIdentity', stsParams);
  if (problem) {
    recordModelRefusal({ service: 'sts', operation: 'GetCallerIdentity', ...problem });
    throw fail(`STS refuses the presigned request: ${problem.code}: ${problem.message}`);
  }
  // The cluster name travels as a signed header in the real request; the URL itself must not carry it.
  if (q.has('x-k8s-aws-id')) throw fail('x-k8s-aws-id must be a signed header, not a query parameter');
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '');
  if (!date) throw fail('X-Amz-Date missing or malformed');
  const signedAt = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
  if (now > signedAt + 15 * 60_000) throw fail(`X-Amz-Date parameter is expired (15 minute expiration) ${q.get('X-Amz-Date') ?? ''}`);
  const signer = eksTokenSigner(header);
  if (!signer) throw fail('X-Amz-Credential missing or malformed');
  // What STS answers the authenticator's GetCallerIdentity for a session key it does not know, or one that expired.
  const standing = sts?.standing(signer);
  if (standing === 'invalid') throw fail('STS refuses the presigned request: InvalidClientTokenId: The security token included in the request is invalid.');
  if (standing === 'expired') throw fail('STS refuses the presigned request: ExpiredToken: The security token included in the request is expired');
  return signer;
}
