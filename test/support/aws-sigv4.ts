/**
 * What an AWS service checks of a request's SigV4 signature before it reads
 * the request, for the fakes that serve several regions from one port (the
 * region is the one the request was signed for):
 * - an `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 *   SignedHeaders=…, Signature=…` header and an `X-Amz-Date` within 15 minutes;
 * - a credential scoped to the service's signing name (`ecr`, `monitoring`…);
 * - session credentials (ASIA…) still live by the fake STS's word;
 * - and, when the fake knows the secret key (every session the fake STS
 *   issued, static keys a test registers), the signature itself, computed as
 *   AWS computes it, with the body's SHA-256 against `x-amz-content-sha256`.
 * Each fake answers a problem with its own service's error code.
 */
import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { CredentialStanding, FakeSts } from './fake-sts.ts';

export interface SigV4Signer {
  accessKeyId: string;
  sessionToken?: string | undefined;
  /** The region of the credential scope: the region the client was built for. */
  region: string;
  service: string;
}

export type SigV4ProblemKind = 'missing' | 'incomplete' | 'scope' | 'signature' | 'skew' | 'expired-token' | 'invalid-token';

export interface SigV4Problem {
  kind: SigV4ProblemKind;
  message: string;
}

export interface SigV4Options {
  /** The service's signing name. */
  service: string;
  /** The secret key of an access key id, when the fake knows it. */
  secretOf: (accessKeyId: string) => string | undefined;
  /** What the fake STS makes of the caller's credentials (static keys: `static`). */
  standing: (caller: { accessKeyId: string; sessionToken?: string | undefined }) => CredentialStanding;
  now?: () => number;
}

/**
 * The options a fake checks signatures with: session keys judged by `sts` (and
 * their signatures checked with the secret it issued), static keys taken as
 * they are unless `knownSecrets` holds their secret.
 */
export function signingOptions(service: string, sts: FakeSts | undefined, knownSecrets: ReadonlyMap<string, string>): SigV4Options {
  return {
    service,
    secretOf: (id) => sts?.sessions.get(id)?.secretAccessKey ?? knownSecrets.get(id),
    standing: (caller) => sts?.standing(caller) ?? 'static',
  };
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;
const SKEW_MS = 15 * 60_000;

/** Who signed `req` and the first thing AWS would refuse about its signature, if anything. */
export function checkSigV4(req: IncomingMessage, body: string, options: SigV4Options): { signer?: SigV4Signer; problem?: SigV4Problem } {
  const authorization = req.headers.authorization;
  if (!authorization) return { problem: { kind: 'missing', message: 'Missing Authentication Token' } };
  const m = AUTH.exec(authorization);
  if (!m) return { problem: { kind: 'incomplete', message: `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters in AWS4-HMAC-SHA256 form. Authorization=${authorization.split(' ')[0] ?? ''}` } };
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaders = '', signature = ''] = m;
  const token = req.headers['x-amz-security-token'];
  const signer: SigV4Signer = { accessKeyId, sessionToken: Array.isArray(token) ? token[0] : token, region, service };
  const amzDate = header(req, 'x-amz-date');
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) return { signer, problem: { kind: 'incomplete', message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header." } };
  if (service !== options.service) return { signer, problem: { kind: 'scope', message: `Credential should be scoped to correct service: '${options.service}'. ` } };
  if (!amzDate.startsWith(date)) return { signer, problem: { kind: 'scope', message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}'` } };
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
  const now = (options.now ?? Date.now)();
  if (Math.abs(now - signedAt) > SKEW_MS) {
    return { signer, problem: { kind: 'skew', message: `Signature expired: ${amzDate} is now earlier than ${isoBasic(now - SKEW_MS)} (${isoBasic(now)} - 15 min.)` } };
  }
  const standing = options.standing(signer);
  if (standing === 'expired') return { signer, problem: { kind: 'expired-token', message: 'The security token included in the request is expired' } };
  if (standing === 'invalid') return { signer, problem: { kind: 'invalid-token', message: 'The security token included in the request is invalid.' } };
  const secret = options.secretOf(accessKeyId);
  if (secret === undefined) return { signer };
  const bodyHash = sha256(body);
  const claimed = header(req, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== bodyHash) {
    return { signer, problem: { kind: 'signature', message: "The provided 'x-amz-content-sha256' header does not match what was computed." } };
  }
  const expected = signatureOf(req, { amzDate, date, region, service, signedHeaders, payloadHash: claimed ?? bodyHash, secret });
  if (expected !== signature) {
    return {
      signer,
      problem: { kind: 'signature', message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.' },
    };
  }
  return { signer };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function isoBasic(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

/** RFC 3986 percent-encoding, as SigV4 canonicalises path segments and query keys and values. */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

interface Parts {
  amzDate: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string;
  payloadHash: string;
  secret: string;
}

/**
 * The signature AWS computes for a request signed in its headers. Paths are
 * encoded once more, as every service but S3 canonicalises them.
 */
function signatureOf(req: IncomingMessage, p: Parts): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname.split('/').map(rfc3986).join('/') || '/';
  const query = [...url.searchParams]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = p.signedHeaders.split(';');
  const headers = names.map((n) => `${n}:${(header(req, n) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method ?? 'GET', path, query, headers, p.signedHeaders, p.payloadHash].join('\n');
  const scope = `${p.date}/${p.region}/${p.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', p.amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${p.secret}`, p.date), p.region), p.service), 'aws4_request');
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

/**
 * The status and code a service answers a SigV4 problem with: the JSON
 * services (ECR, Secrets Manager) with their `…Exception` names, all 400;
 * the query and REST/XML services (CloudWatch's query codes, Route 53) with
 * the query names.
 */
export function sigV4ErrorOf(kind: SigV4ProblemKind, style: 'json' | 'query'): { status: number; code: string } {
  const json: Record<SigV4ProblemKind, string> = {
    missing: 'MissingAuthenticationTokenException',
    incomplete: 'IncompleteSignatureException',
    scope: 'InvalidSignatureException',
    signature: 'InvalidSignatureException',
    skew: 'InvalidSignatureException',
    'expired-token': 'ExpiredTokenException',
    'invalid-token': 'UnrecognizedClientException',
  };
  const query: Record<SigV4ProblemKind, [number, string]> = {
    missing: [403, 'MissingAuthenticationToken'],
    incomplete: [400, 'IncompleteSignature'],
    scope: [403, 'SignatureDoesNotMatch'],
    signature: [403, 'SignatureDoesNotMatch'],
    skew: [403, 'SignatureDoesNotMatch'],
    'expired-token': [403, 'ExpiredToken'],
    'invalid-token': [403, 'InvalidClientTokenId'],
  };
  if (style === 'json') return { status: 400, code: json[kind] };
  const [status, code] = query[kind];
  return { status, code };
}
