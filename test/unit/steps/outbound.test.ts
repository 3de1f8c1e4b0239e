import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { bodyExcerpt } from '../../../src/steps/builtin/excerpt.ts';
import { allowEntryProblem, classifyAddress } from '../../../src/steps/builtin/addresses.ts';
import {
  DEFAULT_OUTBOUND,
  type OutboundPolicy,
  refusalFor,
  urlRefusal,
} from '../../../src/steps/builtin/outbound.ts';
import { stepLimitsFrom } from '../../../src/steps/limits.ts';

const at = (address: string, port = 80, host = address) => ({ host, address, port });

describe('outbound policy: address classification', () => {
  it.each([
    ['169.254.169.254', '169.254.0.0/16'],
    ['169.254.1.1', '169.254.0.0/16'],
    ['127.0.0.1', '127.0.0.0/8'],
    ['127.255.255.254', '127.0.0.0/8'],
    ['10.20.30.40', '10.0.0.0/8'],
    ['172.16.0.1', '172.16.0.0/12'],
    ['172.31.255.255', '172.16.0.0/12'],
    ['192.168.1.1', '192.168.0.0/16'],
    ['100.64.0.1', '100.64.0.0/10'],
    ['100.127.255.255', '100.64.0.0/10'],
    ['0.0.0.0', '0.0.0.0/8'],
    ['224.0.0.251', '224.0.0.0/4'],
    ['255.255.255.255', '240.0.0.0/4'],
    ['::1', '::1/128'],
    ['::', '::/128'],
    ['fe80::1', 'fe80::/10'],
    ['febf:ffff::1', 'fe80::/10'],
    ['fd00:ec2::254', 'fc00::/7'],
    ['fc12:3456::1', 'fc00::/7'],
    ['ff02::1', 'ff00::/8'],
    // IPv4-mapped and -compatible forms are the IPv4 address they carry.
    ['::ffff:169.254.169.254', '169.254.0.0/16'],
    ['::ffff:a9fe:a9fe', '169.254.0.0/16'],
    ['[::ffff:127.0.0.1]', '127.0.0.0/8'],
    ['::ffff:10.0.0.1', '10.0.0.0/8'],
    ['::ffff:c0a8:101', '192.168.0.0/16'],
    ['::ffff:100.64.0.1', '100.64.0.0/10'],
    ['::ffff:0.0.0.0', '0.0.0.0/8'],
    ['::127.0.0.1', '127.0.0.0/8'],
    // What a NAT64 or 6to4 gateway would translate to.
    ['64:ff9b::a9fe:a9fe', '169.254.0.0/16'],
    ['64:ff9b::10.1.2.3', '10.0.0.0/8'],
    ['2002:7f00:1::', '127.0.0.0/8'],
  ])('%s is in %s', (address, range) => {
    expect(classifyAddress(address)?.range).toBe(range);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeUndefined();
    },
  );

  it('knows the metadata and credential endpoints, in every spelling', () => {
    for (const address of ['169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '169.254.170.23', 'fd00:ec2::23', '100.100.100.200', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::a9fe:a9fe']) {
      expect(classifyAddress(address)?.metadata, address).toBeDefined();
    }
    expect(classifyAddress('169.254.169.253')?.metadata).toBeUndefined();
    expect(classifyAddress('::ffff:a9fe:a9fe')?.embedded).toBe('IPv4-mapped 169.254.169.254');
  });

  it('anything that is not a literal address is never taken for public', () => {
    expect(classifyAddress('example.com')).toMatchObject({ kind: 'not an IP address' });
    expect(refusalFor(DEFAULT_OUTBOUND, at('0x7f.1'))).toBe('0x7f.1 is not an IP address');
  });
});

describe('outbound policy: what the URL parser hands the dialler', () => {
  // axios dials `new URL(url).hostname`; these are the forms an attacker would try.
  it.each([
    ['http://2852039166/latest/meta-data/', '169.254.169.254', 'metadata'],
    ['http://0xa9fea9fe/', '169.254.169.254', 'metadata'],
    ['http://0251.0376.0251.0376/', '169.254.169.254', 'metadata'],
    ['http://169.254.43518/', '169.254.169.254', 'metadata'],
    ['http://0x7f.1/', '127.0.0.1', '127.0.0.0/8'],
    ['http://127.1/', '127.0.0.1', '127.0.0.0/8'],
    ['http://0/', '0.0.0.0', '0.0.0.0/8'],
    ['http://[::ffff:169.254.169.254]/', '[::ffff:a9fe:a9fe]', 'metadata'],
    ['http://[0:0:0:0:0:ffff:7f00:1]:8080/', '[::ffff:7f00:1]', '127.0.0.0/8'],
    ['http://[::1]/', '[::1]', '::1/128'],
    ['http://[fd00:ec2::254]/', '[fd00:ec2::254]', 'metadata'],
    ['https://[fe80::abcd]/', '[fe80::abcd]', 'fe80::/10'],
  ])('%s → %s is refused (%s)', (url, hostname, range) => {
    expect(new URL(url).hostname).toBe(hostname);
    const refusal = urlRefusal(DEFAULT_OUTBOUND, url);
    expect(refusal).toContain(range);
  });

  it('leaves host names and placeholders to run time, and public addresses alone', () => {
    expect(urlRefusal(DEFAULT_OUTBOUND, 'http://localhost:8080/')).toBeUndefined();
    expect(urlRefusal(DEFAULT_OUTBOUND, 'https://api.example.com/health')).toBeUndefined();
    expect(urlRefusal(DEFAULT_OUTBOUND, 'https://‹steps.restore.outputs.endpoint›/health')).toBeUndefined();
    expect(urlRefusal(DEFAULT_OUTBOUND, 'http://93.184.215.14/')).toBeUndefined();
  });

  it('says which range and how to allow it', () => {
    expect(urlRefusal(DEFAULT_OUTBOUND, 'http://10.1.2.3:8080/x')).toBe(
      '10.1.2.3 is in 10.0.0.0/8 (private): steps may reach it only if HTTP_ALLOWED_TARGETS (file key http.allow) lists it, e.g. HTTP_ALLOWED_TARGETS=10.1.2.3 or a range such as 10.0.0.0/8',
    );
    expect(urlRefusal(DEFAULT_OUTBOUND, 'http://[::ffff:169.254.169.254]/')).toBe(
      '::ffff:a9fe:a9fe (IPv4-mapped 169.254.169.254) is the cloud instance metadata service, which hands out credentials: it is refused even when a range or host name in HTTP_ALLOWED_TARGETS (file key http.allow) covers it; only an entry of exactly 169.254.169.254 allows it',
    );
    expect(refusalFor(DEFAULT_OUTBOUND, at('10.0.0.7', 80, 'db.internal'))).toBe(
      'db.internal resolves to 10.0.0.7, which is in 10.0.0.0/8 (private): steps may reach it only if HTTP_ALLOWED_TARGETS (file key http.allow) lists it, e.g. HTTP_ALLOWED_TARGETS=db.internal or a range such as 10.0.0.0/8',
    );
  });
});

describe('outbound policy: the allow list', () => {
  const policy = (allow: string[], ownPorts: number[] = [3000, 9464]): OutboundPolicy => ({ allow, ownPorts });

  it('a CIDR allows what it covers, mapped forms included; an address allows itself', () => {
    const p = policy(['10.0.0.0/8', '192.168.1.5', 'fd12::/16']);
    expect(refusalFor(p, at('10.9.8.7'))).toBeUndefined();
    expect(refusalFor(p, at('::ffff:10.9.8.7'))).toBeUndefined();
    expect(refusalFor(p, at('192.168.1.5'))).toBeUndefined();
    expect(refusalFor(p, at('192.168.1.6'))).toContain('192.168.0.0/16');
    expect(refusalFor(p, at('fd12:1::1'))).toBeUndefined();
    expect(refusalFor(p, at('fd13::1'))).toContain('fc00::/7');
    expect(refusalFor(p, at('127.0.0.1'))).toContain('loopback');
  });

  it('a host name allows what that exact name resolves to, nothing else', () => {
    const p = policy(['Grafana.Internal.']);
    expect(refusalFor(p, at('10.0.0.7', 443, 'grafana.internal'))).toBeUndefined();
    expect(refusalFor(p, at('10.0.0.7', 443, 'other.internal'))).toContain('10.0.0.0/8');
    expect(refusalFor(p, at('10.0.0.7', 443, 'x.grafana.internal'))).toContain('10.0.0.0/8');
    expect(refusalFor(p, at('10.0.0.7'))).toContain('10.0.0.0/8');
  });

  it('metadata is refused under a broader entry, allowed only when listed exactly', () => {
    for (const allow of [['169.254.0.0/16'], ['0.0.0.0/0'], ['::ffff:0:0/96'], ['fc00::/7']]) {
      expect(refusalFor(policy(allow), at('169.254.169.254'))).toContain('only an entry of exactly 169.254.169.254');
      expect(refusalFor(policy(allow), at('::ffff:169.254.169.254'))).toContain('metadata');
    }
    expect(refusalFor(policy(['fc00::/7']), at('fd00:ec2::254'))).toContain('only an entry of exactly fd00:ec2::254');
    expect(refusalFor(policy(['169.254.0.0/16']), at('169.254.169.254', 80, 'metadata.google.internal'))).toContain('metadata');
    expect(refusalFor(policy(['metadata.google.internal']), at('169.254.169.254', 80, 'metadata.google.internal'))).toContain('metadata');
    // A broad entry still allows the rest of the range.
    expect(refusalFor(policy(['169.254.0.0/16']), at('169.254.10.10'))).toBeUndefined();
    expect(refusalFor(policy(['169.254.169.254']), at('169.254.169.254'))).toBeUndefined();
    expect(refusalFor(policy(['169.254.169.254/32']), at('::ffff:a9fe:a9fe'))).toBeUndefined();
    expect(refusalFor(policy(['fd00:ec2::254']), at('fd00:ec2::254'))).toBeUndefined();
  });

  it("the bot's own ports on this host are refused whatever is allowed", () => {
    const p = policy(['127.0.0.0/8', '::1', '0.0.0.0/8', 'localhost']);
    expect(refusalFor(p, at('127.0.0.1', 8080))).toBeUndefined();
    for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1', '0.0.0.0']) {
      expect(refusalFor(p, at(address, 3000)), address).toContain("port 3000 is the bot's own");
      expect(refusalFor(p, at(address, 9464)), address).toContain("port 9464 is the bot's own");
    }
    expect(refusalFor(p, at('127.0.0.1', 3000, 'localhost'))).toContain("localhost resolves to 127.0.0.1, which is this host, and port 3000 is the bot's own");
    // The same port on another host is somebody else's.
    expect(refusalFor(policy(['10.0.0.0/8']), at('10.99.99.99', 3000))).toBeUndefined();
    expect(refusalFor(policy([]), at('8.8.8.8', 3000))).toBeUndefined();
  });

  it('checks entries: CIDRs, addresses and host names only', () => {
    for (const ok of ['10.0.0.0/8', '10.1.2.3', 'fd00::/8', '::1', '[::1]', 'grafana.internal', 'localhost', 'api-1.example.com.']) expect(allowEntryProblem(ok), ok).toBeUndefined();
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'http://x', '*.internal', 'host:8080', 'a b', '::1/129', '1.2.3.4/8/1']) expect(allowEntryProblem(bad), bad).toBeDefined();
  });
});

describe('outbound policy: configuration', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-1-2-x', SLACK_SIGNING_SECRET: 'abcdef0123456789abcdef' };

  it('HTTP_ALLOWED_TARGETS (http.allow) becomes the allow list; PORT and METRICS_PORT are own ports', () => {
    const config = loadConfig({ env: { ...base, HTTP_ALLOWED_TARGETS: '10.0.0.0/8, grafana.internal ,127.0.0.1', PORT: '3100', METRICS_PORT: '9464' } });
    expect(config.http.allow).toEqual(['10.0.0.0/8', 'grafana.internal', '127.0.0.1']);
    const { outbound } = stepLimitsFrom(config);
    expect(outbound.allow).toEqual(['10.0.0.0/8', 'grafana.internal', '127.0.0.1']);
    expect(outbound.ownPorts).toEqual([3100, 9464]);
    expect(stepLimitsFrom(loadConfig({ env: base })).outbound.allow).toEqual([]);
    expect(stepLimitsFrom(loadConfig({ env: { ...base, PORT: '0', METRICS_PORT: '0' } })).outbound.ownPorts).toEqual([]);
  });

  it('refuses a bad entry by name', () => {
    expect(() => loadConfig({ env: { ...base, HTTP_ALLOWED_TARGETS: '10.0.0.0/8,*.internal' } })).toThrow(/HTTP_ALLOWED_TARGETS: `\*\.internal` must be a CIDR/);
  });
});

describe('outbound policy: body excerpts', () => {
  it('are short, on one line, without control or bidi characters', () => {
    const out = bodyExcerpt(`line one\nline\ttwo\r\n\u0007bell \u202Egnirts\u202C \u2066iso\u2069 zero\u200Bwidth ${'x'.repeat(1000)}`);
    expect(Array.from(out).length).toBeLessThanOrEqual(200);
    expect(out.startsWith('line one line two bell gnirts iso zerowidth x')).toBe(true);
    expect(out.endsWith('…')).toBe(true);
    expect(out).not.toMatch(/[\p{Cc}\p{Cf}]/u);
  });

  it('replace whatever looks like a credential', () => {
    const imds = JSON.stringify({
      Code: 'Success',
      AccessKeyId: 'ASIAIOSFODNN7EXAMPLE',
      SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      Token: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH',
      Expiration: '2026-01-01T00:00:00Z',
    });
    const out = bodyExcerpt(imds);
    expect(out).toBe('{"Code":"Success","AccessKeyId":"[redacted]","SecretAccessKey":"[redacted]","Token":"[redacted]","Expiration":"2026-01-01T00:00:00Z"}');
    for (const [text, secret] of [
      ['key AKIAIOSFODNN7EXAMPLE here', 'AKIAIOSFODNN7EXAMPLE'],
      ['Authorization: Bearer abc.def-ghi', 'abc.def-ghi'],
      ['slack xoxb-1234-5678-abcdEFGH', 'xoxb-1234-5678-abcdEFGH'],
      ["{'password': 'hunter2'}", 'hunter2'],
      ['api_key=sk123456789', 'sk123456789'],
      ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'eyJhbGciOiJIUzI1NiJ9'],
      ['https://user:pa55w0rd@db.example/', 'pa55w0rd'],
      ['raw wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end', 'wJalrXUtnFEMI'],
      // Zero-width characters cannot split a key past the patterns.
      ['AKIA\u200BIOSFODNN7EXAMPLE', 'IOSFODNN7EXAMPLE'],
    ]) {
      const excerpt = bodyExcerpt(text ?? '');
      expect(excerpt, text).not.toContain(secret);
      expect(excerpt, text).toContain('[redacted]');
    }
    // Ordinary text and ids stay readable.
    expect(bodyExcerpt('{"id":"3f2b9c1e-8d7a-4b6c-9e5f-1a2b3c4d5e6f","status":"created"}')).toBe('{"id":"3f2b9c1e-8d7a-4b6c-9e5f-1a2b3c4d5e6f","status":"created"}');
  });

  it('stay fast on hostile bodies', () => {
    const started = Date.now();
    bodyExcerpt('a'.repeat(200_000));
    bodyExcerpt(`"${'token'.repeat(40_000)}`);
    bodyExcerpt('-----BEGIN PRIVATE KEY-----'.repeat(5_000));
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
