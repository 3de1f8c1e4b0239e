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
import { z } from 'zod';
import { hasUrlCredentials, URL_CREDENTIALS_REFUSAL } from '../../util/url-credentials.ts';
import { PermanentStepError } from '../types.ts';
import { allowEntryProblem, type Cidr, classifyIp, formatIp, forms, inCidr, type Ip, LOOPBACK_OR_UNSPECIFIED, METADATA, normaliseHost, parseCidr, parseIp, sameIp } from './addresses.ts';


export interface OutboundPolicy {
  /** CIDRs or exact host names that may be reached although they are private, loopback or link-local. */
  readonly allow: readonly string[];
  /** The ports this bot listens on (on this host); never a target. */
  readonly ownPorts: readonly number[];
  /** How host names are resolved (tests stand in a resolver); `dns.lookup` by default. */
  readonly resolve?: (hostname: string, family: 0 | 4 | 6) => Promise<readonly LookupAddress[]>;
}

export const DEFAULT_OUTBOUND: OutboundPolicy = { allow: [], ownPorts: [] };

/**
 * The URL `http.check` and `http.request` take, however it reaches them (a
 * literal in the runbook, a parameter, an earlier step's output): http(s),
 * and never with a user name or password in it, because the URL is shown in
 * the plan, the run message, the audit and the logs.
 */
export const stepUrl = z.url({ protocol: /^https?$/ }).refine((url) => !hasUrlCredentials(url), { message: URL_CREDENTIALS_REFUSAL });

/** The setting that widens the policy, as messages name it. */
const SETTING = 'HTTP_ALLOWED_TARGETS (file key http.allow)';

/** A connection the policy refused; permanent: retrying will not change the answer. */
export class OutboundRefusedError extends PermanentStepError {
  readonly code = 'ERR_OUTBOUND_REFUSED';
}


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
