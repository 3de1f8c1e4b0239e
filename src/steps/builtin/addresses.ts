/**
 * IP addresses as the dialler sees them: parsing (every spelling), CIDRs, and
 * which ranges and metadata endpoints steps may not reach (see outbound.ts).
 */
import { isIP } from 'node:net';

export interface Ip {
  readonly v: 4 | 6;
  readonly bytes: Uint8Array;
}

export interface Cidr extends Ip {
  readonly prefix: number;
}

/** Parses a literal IPv4 (dotted quad) or IPv6 address, with or without brackets and zone. */
export function parseIp(text: string): Ip | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const kind = isIP(s);
  if (kind === 4) return { v: 4, bytes: Uint8Array.from(s.split('.').map(Number)) };
  if (kind !== 6) return undefined;
  s = s.split('%')[0] ?? s;
  const bytes = new Uint8Array(16);
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(piece, 16));
    }
    return out;
  };
  const [head = '', tail] = s.split('::');
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  all.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 0xff;
  });
  return { v: 6, bytes };
}

export function formatIp(ip: Ip): string {
  if (ip.v === 4) return [...ip.bytes].join('.');
  const words = Array.from({ length: 8 }, (_, i) => ((ip.bytes[i * 2] ?? 0) << 8) | (ip.bytes[i * 2 + 1] ?? 0));
  // The longest run of zero words (two or more) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr = '', len, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const max = ip.v === 4 ? 32 : 128;
  if (len === undefined) return { ...ip, prefix: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return undefined;
  const prefix = Number(len);
  // An IPv4-mapped IPv6 range is the IPv4 range it maps.
  const mapped = ip.v === 6 && prefix >= 96 ? embeddedMapped(ip) : undefined;
  if (mapped) return { ...mapped.ip, prefix: prefix - 96 };
  return { ...ip, prefix };
}

export function inCidr(ip: Ip, cidr: Cidr): boolean {
  if (ip.v !== cidr.v) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((ip.bytes[i] ?? 0) & mask) !== ((cidr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

export const sameIp = (a: Ip, b: Ip): boolean => a.v === b.v && a.bytes.every((x, i) => x === b.bytes[i]);

/** `::ffff:a.b.c.d` (mapped) and `::a.b.c.d` (the deprecated compatible form) are the IPv4 address itself. */
export function embeddedMapped(ip: Ip): { ip: Ip; via: string } | undefined {
  if (ip.v !== 6) return undefined;
  const b = ip.bytes;
  if (!b.subarray(0, 10).every((x) => x === 0)) return undefined;
  const marker = ((b[10] ?? 0) << 8) | (b[11] ?? 0);
  const v4 = { v: 4 as const, bytes: b.slice(12, 16) };
  if (marker === 0xffff) return { ip: v4, via: 'IPv4-mapped' };
  // ::/96 compatible, but not :: and ::1 themselves.
  if (marker === 0 && ((b[12] ?? 0) | (b[13] ?? 0)) !== 0) return { ip: v4, via: 'IPv4-compatible' };
  return undefined;
}

/** An IPv4 address carried inside an IPv6 one that a gateway would translate to: NAT64 and 6to4. */
export function embeddedTranslated(ip: Ip): { ip: Ip; via: string } | undefined {
  if (ip.v !== 6) return undefined;
  const b = ip.bytes;
  if (inCidr(ip, NAT64)) return { ip: { v: 4, bytes: b.slice(12, 16) }, via: 'NAT64' };
  if (inCidr(ip, SIX_TO_FOUR)) return { ip: { v: 4, bytes: b.slice(2, 6) }, via: '6to4' };
  return undefined;
}

export const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (!c) throw new Error(`bad built-in CIDR ${text}`);
  return c;
};
export const NAT64 = cidr('64:ff9b::/96');
export const SIX_TO_FOUR = cidr('2002::/16');

/** Ranges steps may not reach unless allowed, most specific first. */
export const REFUSED_RANGES: readonly { range: string; cidr: Cidr; kind: string }[] = [
  ['0.0.0.0/8', '"this network" (reaches this host)'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT (shared address space)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata lives here)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved (and broadcast)'],
  ['::/128', 'unspecified (reaches this host)'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'NAT64 local-use'],
  ['fc00::/7', 'unique local (private)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated, private)'],
  ['ff00::/8', 'multicast'],
].map(([range = '', kind = '']) => ({ range, cidr: cidr(range), kind }));

/** Cloud metadata and credential endpoints: refused unless listed exactly. */
export const METADATA: readonly { ip: Ip; what: string }[] = [
  ['169.254.169.254', 'the cloud instance metadata service'],
  ['fd00:ec2::254', 'the EC2 instance metadata service (IPv6)'],
  ['169.254.170.2', 'the ECS task credentials endpoint'],
  ['169.254.170.23', 'the EKS Pod Identity agent'],
  ['fd00:ec2::23', 'the EKS Pod Identity agent (IPv6)'],
  ['100.100.100.200', 'the Alibaba Cloud metadata service'],
].map(([addr = '', what = '']) => ({ ip: cidr(addr), what }));

export const LOOPBACK_OR_UNSPECIFIED = ['127.0.0.0/8', '0.0.0.0/8', '::1/128', '::/128'].map(cidr);

export interface AddressClass {
  /** The refused range the address is in, e.g. `169.254.0.0/16`. */
  readonly range: string;
  /** What the range is, e.g. `private`, `link-local`. */
  readonly kind: string;
  /** Set for a cloud metadata / credentials endpoint: what it is. */
  readonly metadata?: string;
  /** The IPv4 address the checked form stands for, when it is written inside an IPv6 one: `IPv4-mapped 169.254.169.254`. */
  readonly embedded?: string;
}

/** The forms an address is checked in: itself (unmapped when IPv4-mapped) and any IPv4 address a gateway would translate it to. */
export function forms(ip: Ip): { ip: Ip; via?: string }[] {
  const mapped = embeddedMapped(ip);
  if (mapped) return [mapped];
  const translated = embeddedTranslated(ip);
  return translated ? [{ ip }, translated] : [{ ip }];
}

export function classifyIp(ip: Ip): AddressClass | undefined {
  for (const form of forms(ip)) {
    const embedded = form.via ? { embedded: `${form.via} ${formatIp(form.ip)}` } : {};
    const meta = METADATA.find((m) => sameIp(m.ip, form.ip));
    const range = REFUSED_RANGES.find((r) => inCidr(form.ip, r.cidr));
    if (meta) return { range: range?.range ?? formatIp(meta.ip), kind: range?.kind ?? 'metadata', metadata: meta.what, ...embedded };
    if (range) return { range: range.range, kind: range.kind, ...embedded };
  }
  return undefined;
}

/**
 * The refused range a literal address is in, or undefined for a public one.
 * Returns a class for anything that is not a literal address (it cannot be checked).
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const ip = parseIp(address);
  if (!ip) return { range: address, kind: 'not an IP address' };
  return classifyIp(ip);
}

// ---------------------------------------------------------------------------
// Policy

/** Problems with one `HTTP_ALLOWED_TARGETS` entry, or undefined when it is a CIDR, an address or a host name. */
export function allowEntryProblem(entry: string): string | undefined {
  if (entry.includes('/') || isIP(entry.replace(/^\[|\]$/g, '')) !== 0) {
    return parseCidr(entry) ? undefined : `\`${entry}\` is not a valid CIDR or address (e.g. 10.0.0.0/8, 10.1.2.3, fd00::/8)`;
  }
  return HOST_NAME.test(entry) ? undefined : `\`${entry}\` must be a CIDR (10.0.0.0/8, fd00::/8), an address or an exact host name (no wildcards, ports or schemes)`;
}

export const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

export const normaliseHost = (host: string): string => host.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
