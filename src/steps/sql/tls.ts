import { readFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { getCACertificates } from 'node:tls';
import { PermanentStepError } from '../types.ts';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 and `localhost`: the only hosts a connection without TLS may go to. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** What pg hands to tls.connect: the CAs to trust, and a refusal of any certificate they do not sign. */
export interface TlsSettings {
  ca: string[];
  rejectUnauthorized: true;
}

export interface TlsChoice {
  tls: 'require' | 'disable';
  caBundle?: string | undefined;
}

/** How the plan says it: which CAs verify the server, or that a loopback test server is reached in clear. */
export function describeTls(p: TlsChoice): string {
  if (p.tls === 'disable') return 'without TLS (allowed for a loopback host only)';
  return `over TLS, the server's certificate and name verified against ${p.caBundle ? `the CA bundle ${p.caBundle}` : "the system's CA store"}`;
}

/**
 * RDS requires TLS in production: `disable` is refused for anything but a
 * loopback host (a test's local PostgreSQL). For `require`, the server's
 * certificate must chain to the bundle (RDS signs with CAs of its own, in no
 * default store: its global-bundle.pem) and name the host; pg checks the name
 * against the host it connects to.
 */
export function refuseCleartext(p: TlsChoice, host: string): void {
  if (p.tls === 'disable' && !isLoopbackHost(host)) {
    throw new PermanentStepError(
      `tls: disable is allowed only for a loopback host (a test's local PostgreSQL), and ${host} is not one: RDS requires TLS, so leave tls at require (with caBundle naming RDS's CA bundle, e.g. global-bundle.pem)`,
    );
  }
}

/** The settings pg connects with: false for a loopback host without TLS. */
export async function tlsSettings(p: TlsChoice, host: string): Promise<TlsSettings | false> {
  refuseCleartext(p, host);
  if (p.tls === 'disable') return false;
  return { ca: p.caBundle ? await readBundle(p.caBundle) : systemStore(), rejectUnauthorized: true };
}

/** Checks in plan() that the bundle can be read (its contents are never shown). */
export async function checkBundle(p: TlsChoice): Promise<void> {
  if (p.tls === 'require' && p.caBundle) await readBundle(p.caBundle);
}

async function readBundle(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new PermanentStepError(`cannot read the CA bundle ${path}${typeof code === 'string' ? ` (${code})` : ''}: give the path of a PEM file the bot can read (RDS's is global-bundle.pem)`);
  }
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length === 0) throw new PermanentStepError(`the CA bundle ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certificates;
}

function systemStore(): string[] {
  const certificates = getCACertificates('system');
  if (certificates.length === 0) throw new PermanentStepError("the system's CA store is empty: give caBundle (the path of RDS's global-bundle.pem)");
  return certificates;
}
