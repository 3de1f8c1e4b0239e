/**
 * Where `http.check` and `http.request` may connect, and what of an answer may
 * be shown. A runbook's URL comes from its parameters (typed by whoever
 * requests the run) or from an earlier step's output, so it is untrusted:
 *
 * - Refused: loopback, link-local (the cloud metadata services live there),
 *   private, CGNAT, unique-local, multicast and reserved ranges, in every
 *   spelling the dialler accepts (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
 *   NAT64 `64:ff9b::/96` and 6to4 `2002::/16` embeddings, numeric hosts such as
 *   `http://2852039166/` or `http://0x7f.1/`, which the WHATWG URL parser that
 *   axios uses normalises to dotted quads before we see them), unless
 *   `HTTP_ALLOWED_TARGETS` (`allow`) lists a CIDR that covers the address or the
 *   exact host name the URL names.
 * - Metadata addresses (AWS/GCP/Azure 169.254.169.254 and fd00:ec2::254, the ECS
 *   credentials endpoint 169.254.170.2, the EKS Pod Identity agent
 *   169.254.170.23 and fd00:ec2::23, Alibaba's 100.100.100.200) hand out
 *   credentials: they are refused even when a broader allow entry (a CIDR such
 *   as 169.254.0.0/16, or a host name that resolves to them) covers them; only
 *   an entry of exactly that address (`169.254.169.254` or `169.254.169.254/32`)
 *   allows one.
 * - The bot's own ports (`ownPorts`) on loopback, 0.0.0.0/:: or any address of
 *   this host's interfaces are always refused, whatever `allow` says.
 *
 * The check is made on the address that is dialled: the agents below resolve a
 * host name once, check every address it resolves to (one refused address
 * refuses the name: DNS answers can mix), and hand exactly those addresses to
 * the socket, so there is no second lookup for a rebinding DNS server to
 * answer differently. A literal IP host is checked as it is (Node does not
 * look it up). No redirects are followed and no proxy is used (a proxy would
 * make the proxy's address the one checked); callers set `maxRedirects: 0`
 * and `proxy: false`.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent as HttpAgent, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { PermanentStepError } from '../types.ts';

export interface OutboundPolicy {
  /** CIDRs or exact host names that may be reached although they are private, loopback or link-local. */
  readonly allow: readonly string[];
  /** The ports this bot listens on (on this host); never a target. */
  readonly ownPorts: readonly number[];
  /** How host names are resolved (tests stand in a resolver); `dns.lookup` by default. */
  readonly resolve?: (hostname: string, family: 0 | 4 | 6) => Promise<readonly LookupAddress[]>;
}

export const DEFAULT_OUTBOUND: OutboundPolicy = { allow: [], ownPorts: [] };

/** The setting that widens the policy, as messages name it. */
const SETTING = 'HTTP_ALLOWED_TARGETS (file key http.allow)';

/** A connection the policy refused; permanent: retrying will not change the answer. */
export class OutboundRefusedError extends PermanentStepError {
  readonly code = 'ERR_OUTBOUND_REFUSED';
}

// ---------------------------------------------------------------------------
// Addresses and CIDRs

interface Ip {
  readonly v: 4 | 6;
  readonly bytes: Uint8Array;
}

interface Cidr extends Ip {
  readonly prefix: number;
}

/** Parses a literal IPv4 (dotted quad) or IPv6 address, with or without brackets and zone. */
function parseIp(text: string): Ip | undefined {
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

function formatIp(ip: Ip): string {
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

function parseCidr(text: string): Cidr | undefined {
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

function inCidr(ip: Ip, cidr: Cidr): boolean {
  if (ip.v !== cidr.v) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((ip.bytes[i] ?? 0) & mask) !== ((cidr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

const sameIp = (a: Ip, b: Ip): boolean => a.v === b.v && a.bytes.every((x, i) => x === b.bytes[i]);

/** `::ffff:a.b.c.d` (mapped) and `::a.b.c.d` (the deprecated compatible form) are the IPv4 address itself. */
function embeddedMapped(ip: Ip): { ip: Ip; via: string } | undefined {
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
function embeddedTranslated(ip: Ip): { ip: Ip; via: string } | undefined {
  if (ip.v !== 6) return undefined;
  const b = ip.bytes;
  if (inCidr(ip, NAT64)) return { ip: { v: 4, bytes: b.slice(12, 16) }, via: 'NAT64' };
  if (inCidr(ip, SIX_TO_FOUR)) return { ip: { v: 4, bytes: b.slice(2, 6) }, via: '6to4' };
  return undefined;
}

const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (!c) throw new Error(`bad built-in CIDR ${text}`);
  return c;
};
const NAT64 = cidr('64:ff9b::/96');
const SIX_TO_FOUR = cidr('2002::/16');

/** Ranges steps may not reach unless allowed, most specific first. */
const REFUSED_RANGES: readonly { range: string; cidr: Cidr; kind: string }[] = [
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
const METADATA: readonly { ip: Ip; what: string }[] = [
  ['169.254.169.254', 'the cloud instance metadata service'],
  ['fd00:ec2::254', 'the EC2 instance metadata service (IPv6)'],
  ['169.254.170.2', 'the ECS task credentials endpoint'],
  ['169.254.170.23', 'the EKS Pod Identity agent'],
  ['fd00:ec2::23', 'the EKS Pod Identity agent (IPv6)'],
  ['100.100.100.200', 'the Alibaba Cloud metadata service'],
].map(([addr = '', what = '']) => ({ ip: cidr(addr), what }));

const LOOPBACK_OR_UNSPECIFIED = ['127.0.0.0/8', '0.0.0.0/8', '::1/128', '::/128'].map(cidr);

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
function forms(ip: Ip): { ip: Ip; via?: string }[] {
  const mapped = embeddedMapped(ip);
  if (mapped) return [mapped];
  const translated = embeddedTranslated(ip);
  return translated ? [{ ip }, translated] : [{ ip }];
}

function classifyIp(ip: Ip): AddressClass | undefined {
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

const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

const normaliseHost = (host: string): string => host.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');

interface Compiled {
  readonly cidrs: readonly Cidr[];
  readonly hosts: ReadonlySet<string>;
  readonly ownPorts: ReadonlySet<number>;
  readonly resolve: (hostname: string, family: 0 | 4 | 6) => Promise<readonly LookupAddress[]>;
}

const compiledCache = new WeakMap<OutboundPolicy, Compiled>();

function compile(policy: OutboundPolicy): Compiled {
  const cached = compiledCache.get(policy);
  if (cached) return cached;
  const cidrs: Cidr[] = [];
  const hosts = new Set<string>();
  for (const entry of policy.allow.map((e) => e.trim()).filter(Boolean)) {
    const c = parseCidr(entry);
    if (c) cidrs.push(c);
    else if (!allowEntryProblem(entry)) hosts.add(normaliseHost(entry));
    // Anything else was refused by the config schema; ignoring it here can only refuse more.
  }
  const compiled: Compiled = {
    cidrs,
    hosts,
    ownPorts: new Set(policy.ownPorts.filter((p) => Number.isInteger(p) && p > 0)),
    resolve: policy.resolve ?? ((hostname, family) => dnsLookup(hostname, { all: true, family, order: 'verbatim' })),
  };
  compiledCache.set(policy, compiled);
  return compiled;
}

/** This host: loopback, the unspecified addresses, and the addresses of its interfaces. */
function isThisHost(ip: Ip): boolean {
  if (LOOPBACK_OR_UNSPECIFIED.some((c) => inCidr(ip, c))) return true;
  return Object.values(networkInterfaces())
    .flat()
    .some((nic) => {
      const own = nic ? parseIp(nic.address) : undefined;
      return own !== undefined && sameIp(own, ip);
    });
}

export interface Target {
  /** The host name (or literal address) the URL names, as it is resolved. */
  readonly host: string;
  /** The address that would be dialled. */
  readonly address: string;
  readonly port: number;
}

/**
 * Why connecting to `target` is refused, or undefined when it is allowed.
 * The message says which range and how to allow it.
 */
export function refusalFor(policy: OutboundPolicy, target: Target): string | undefined {
  const p = compile(policy);
  const host = normaliseHost(target.host);
  const raw = parseIp(target.address);
  if (!raw) return `${target.address} is not an IP address`;
  const named = parseIp(host) === undefined;
  const checked = forms(raw);
  const unmapped = checked[0]?.ip ?? raw;
  const cls = classifyIp(raw);
  const written = `${formatIp(raw)}${cls?.embedded ? ` (${cls.embedded})` : ''}`;
  const subject = named ? `${host} resolves to ${written}, which` : written;

  if (p.ownPorts.has(target.port) && checked.some((f) => isThisHost(f.ip))) {
    return `${subject} is this host, and port ${target.port} is the bot's own (PORT, METRICS_PORT): steps never call the bot itself, whatever ${SETTING} says`;
  }
  if (!cls) return undefined;
  if (cls.metadata) {
    const exactly = METADATA.find((m) => checked.some((f) => sameIp(m.ip, f.ip)));
    const exact = exactly?.ip ?? unmapped;
    const listed = p.cidrs.some((c) => c.prefix === (c.v === 4 ? 32 : 128) && sameIp(c, exact));
    if (listed) return undefined;
    return `${subject} is ${cls.metadata}, which hands out credentials: it is refused even when a range or host name in ${SETTING} covers it; only an entry of exactly ${formatIp(exact)} allows it`;
  }
  if (named && p.hosts.has(host)) return undefined;
  if (p.cidrs.some((c) => checked.some((f) => inCidr(f.ip, c)))) return undefined;
  const example = named ? host : formatIp(unmapped);
  return `${subject} is in ${cls.range} (${cls.kind}): steps may reach it only if ${SETTING} lists it, e.g. HTTP_ALLOWED_TARGETS=${example} or a range such as ${cls.range}`;
}

/**
 * The plan-time check of a URL: a literal IP host is judged without any
 * lookup or connection. Host names (`localhost` too) are judged when they are
 * resolved, at run time, by the agents. A URL that still holds a placeholder for an earlier
 * step's output is judged at run time too.
 */
export function urlRefusal(policy: OutboundPolicy, url: string): string | undefined {
  if (url.includes('‹')) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // the step's schema says what is wrong with it
  }
  const host = normaliseHost(parsed.hostname);
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  return isIP(host) ? refusalFor(policy, { host, address: host, port }) : undefined;
}

// ---------------------------------------------------------------------------
// Agents: the connection uses the addresses that were checked

type ConnectCallback = (err: Error | null, stream: Duplex) => void;
type Connect = (options: ClientRequestArgs, callback?: ConnectCallback) => Duplex | null | undefined;

function guardedLookup(policy: OutboundPolicy, port: number): LookupFunction {
  const { resolve } = compile(policy);
  return (hostname: string, options: LookupOptions, callback) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolve(hostname, family).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '');
          return;
        }
        for (const a of addresses) {
          const refusal = refusalFor(policy, { host: hostname, address: a.address, port });
          if (refusal) {
            callback(new OutboundRefusedError(refusal), '');
            return;
          }
        }
        const list = addresses.map((a) => ({ address: a.address, family: a.family }));
        if (options.all) callback(null, list);
        else callback(null, list[0]?.address ?? '', list[0]?.family);
      },
      (err: unknown) => {
        callback(err instanceof Error ? err : new Error(String(err)), '');
      },
    );
  };
}

function guardedConnect(
  policy: OutboundPolicy,
  options: ClientRequestArgs,
  callback: ConnectCallback | undefined,
  connect: Connect,
  defaultPort: number,
): Duplex | null | undefined {
  // The agent takes a null return to mean "the callback has the socket, or the error".
  const refuse = (reason: string): null => {
    const err = new OutboundRefusedError(reason);
    if (!callback) throw err;
    callback(err, undefined as unknown as Duplex);
    return null;
  };
  if (options.socketPath) return refuse(`steps may not connect to a Unix socket (${options.socketPath})`);
  const host = normaliseHost(options.host ?? options.hostname ?? 'localhost');
  const port = Number(options.port ?? options.defaultPort ?? defaultPort);
  if (isIP(host)) {
    const refusal = refusalFor(policy, { host, address: host, port });
    return refusal ? refuse(refusal) : connect(options, callback);
  }
  return connect({ ...options, lookup: guardedLookup(policy, port) }, callback);
}

export interface OutboundAgents {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

/** An http and an https agent that connect only where `policy` allows, to the addresses they checked. */
export function outboundAgents(policy: OutboundPolicy): OutboundAgents {
  class GuardedHttpAgent extends HttpAgent {
    override createConnection(options: ClientRequestArgs, callback?: ConnectCallback) {
      return guardedConnect(policy, options, callback, (o, cb) => super.createConnection(o, cb), 80);
    }
  }
  class GuardedHttpsAgent extends HttpsAgent {
    override createConnection(options: ClientRequestArgs, callback?: ConnectCallback) {
      return guardedConnect(policy, options, callback, (o, cb) => super.createConnection(o, cb), 443);
    }
  }
  return { httpAgent: new GuardedHttpAgent({ keepAlive: false }), httpsAgent: new GuardedHttpsAgent({ keepAlive: false }) };
}

/** The policy's refusal inside an error axios (or anything else) wrapped, if that is what it is. */
export function refusalIn(err: unknown): OutboundRefusedError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof OutboundRefusedError) return e;
  }
  return undefined;
}

/** Request options every outbound call uses with axios: the guarded agents, no redirects, no proxy, bounded answers. */
export function axiosOutboundOptions(agents: OutboundAgents) {
  return {
    httpAgent: agents.httpAgent,
    httpsAgent: agents.httpsAgent,
    maxRedirects: 0,
    proxy: false as const,
    maxContentLength: MAX_ANSWER_BYTES,
  };
}

/** Larger answers are an error: steps only look for a short text in them. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------
// What of an answer may be shown

export const EXCERPT_CHARS = 200;
/** How much of a body is looked at for an excerpt. */
const EXCERPT_SCAN = 16 * 1024;

// Bounded repetitions keep every pattern linear in the text's length.
const KEY_NAMES = String.raw`[\w.-]{0,40}(?:secret|token|passw(?:or)?d|pwd|credential|api[-_]?key|access[-_]?key|private[-_]?key|session[-_]?key|authorization|signature|cookie)[\w.-]{0,40}`;

const CREDENTIAL_PATTERNS: readonly [RegExp, string][] = [
  // PEM private keys, whole.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted]'],
  // "SecretAccessKey": "…", 'token': '…', password=…
  [new RegExp(String.raw`(["']?${KEY_NAMES}["']?\s*[:=]\s*)(?:(?:Bearer|Basic|Token)\s+[^\s,;&}\]"']+|"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,;&}\]]+)`, 'gi'), '$1"[redacted]"'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, '$1 [redacted]'],
  [/\b(Token)\s+[A-Za-z0-9\-._~+/]{16,}=*/gi, '$1 [redacted]'],
  // AWS access key ids (long-term AKIA…, temporary ASIA…, and the other principal prefixes).
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12,}\b/g, '[redacted]'],
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, '[redacted]'],
  [/\bxapp-[A-Za-z0-9-]+/g, '[redacted]'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, '[redacted]'],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted]'],
  // Credentials in URLs.
  [/(\/\/)[^/\s:@]+:[^/\s@]+@/g, '$1[redacted]@'],
];

/** A long run of key-like characters mixing upper case, lower case and digits (a secret key, a session token). */
const OPAQUE = /[A-Za-z0-9+/_=-]{32,}/g;
const looksRandom = (s: string): boolean => /[A-Z]/.test(s) && /[a-z]/.test(s) && /\d/.test(s);

/** Anything that looks like a credential, replaced by `[redacted]`. */
export function redactCredentials(text: string): string {
  let out = text;
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out.replace(OPAQUE, (m) => (looksRandom(m) ? '[redacted]' : m));
}

/**
 * The most of an answer's body that is ever shown (Slack, audit, errors): at
 * most `max` characters, one line, control, bidi and zero-width characters
 * removed, credential-looking values replaced by `[redacted]`. Characters are
 * removed before redacting, so they cannot be used to split a key past the
 * patterns.
 */
export function bodyExcerpt(body: string, max = EXCERPT_CHARS): string {
  let flat = body
    .slice(0, EXCERPT_SCAN)
    .replace(/[\p{Cf}\p{Co}\p{Cs}]/gu, '')
    .replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ')
    .trim();
  // Where the scan cut the body, a credential may have been cut too, past the patterns: drop that end.
  if (body.length > EXCERPT_SCAN) flat = flat.slice(0, Math.max(0, flat.length - 256));
  const chars = Array.from(redactCredentials(flat));
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}
