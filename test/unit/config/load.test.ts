import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseArgs } from '../../../src/config/load.ts';
import { slackMode } from '../../../src/config/schema.ts';
import { ConfigError } from '../../../src/errors.ts';

const GOOD = {
  SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
  SLACK_SIGNING_SECRET: '0123456789abcdef0123456789abcdef',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'dr-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('uses documented defaults when only credentials are given', () => {
    const config = loadConfig({ env: GOOD });
    expect(config).toMatchObject({
      role: 'all',
      port: 3000,
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'dr',
      slack: { apiUrl: 'https://slack.com/api/', command: '/dr' },
      statuspage: { apiUrl: 'https://api.statuspage.io/v1' },
    });
    expect(slackMode(config)).toBe('http');
  });

  it('takes every endpoint override from the environment', () => {
    const config = loadConfig({
      env: {
        ...GOOD,
        REDIS_URL: 'redis://10.0.0.5:6380/2',
        SLACK_API_URL: 'http://127.0.0.1:9999/api/',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
        AWS_ENDPOINT_URL_RDS: 'http://127.0.0.1:4567',
        AWS_ENDPOINT_URL_EKS: 'http://127.0.0.1:4568',
        KUBECONFIG: '/etc/dr/kubeconfig',
        STATUSPAGE_API_URL: 'http://127.0.0.1:4569/v1',
      },
    });
    expect(config.redisUrl).toBe('redis://10.0.0.5:6380/2');
    expect(config.slack.apiUrl).toBe('http://127.0.0.1:9999/api/');
    expect(config.aws).toMatchObject({
      endpointUrl: 'http://127.0.0.1:4566',
      rdsEndpointUrl: 'http://127.0.0.1:4567',
      eksEndpointUrl: 'http://127.0.0.1:4568',
    });
    expect(config.kubernetes.kubeconfig).toBe('/etc/dr/kubeconfig');
    expect(config.statuspage.apiUrl).toBe('http://127.0.0.1:4569/v1');
  });

  it('chooses Socket Mode when SLACK_APP_TOKEN is set, and then needs no signing secret', () => {
    const config = loadConfig({ env: { SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_APP_TOKEN: 'xapp-1-A1-123-abc' } });
    expect(slackMode(config)).toBe('socket');
  });

  it('names every missing credential at once, with where to get it', () => {
    const problems = problemsOf(() => loadConfig({ env: {} }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^SLACK_BOT_TOKEN is missing: .*README\.md, section "Create the Slack app"/);
    expect(problems[1]).toMatch(/^SLACK_SIGNING_SECRET is missing: .*SLACK_APP_TOKEN/);
  });

  it('needs no signing secret for a worker', () => {
    expect(loadConfig({ env: { SLACK_BOT_TOKEN: 'xoxb-1-2-abc' }, role: 'worker' }).role).toBe('worker');
  });

  it('lists malformed settings beside missing ones, by their variable names', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { PORT: '70000', WORKER_CONCURRENCY: 'lots', QUEUE_PREFIX: 'dr:prod', SLACK_APP_TOKEN: 'xoxb-wrong-kind' } }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'PORT: must be a whole number from 0 to 65535',
        'WORKER_CONCURRENCY: must be a whole number from 1 to 256',
        'QUEUE_PREFIX: may hold letters, digits, _ - { } only (no ":")',
        'SLACK_APP_TOKEN: must be an app-level token starting with xapp-',
        expect.stringMatching(/^SLACK_BOT_TOKEN is missing/),
      ]),
    );
  });

  it('never echoes a secret value in its messages', () => {
    const err = problemsOf(() => loadConfig({ env: { SLACK_BOT_TOKEN: 'not-a-token-SUPERSECRET', SLACK_SIGNING_SECRET: 'zzz' } }));
    expect(err.join('\n')).not.toContain('SUPERSECRET');
  });

  it('reads non-secret settings from a YAML file, with the environment taking precedence', () => {
    const file = yamlFile('port: 8080\nqueuePrefix: "{dr}"\nworker:\n  concurrency: 8\nslack:\n  command: /recover\n');
    const config = loadConfig({ env: { ...GOOD, PORT: '9091' }, configFile: file });
    expect(config.port).toBe(9091);
    expect(config.queuePrefix).toBe('{dr}');
    expect(config.worker.concurrency).toBe(8);
    expect(config.slack.command).toBe('/recover');
  });

  it('names file keys by their path in the file, refuses unknown keys and secrets in the file', () => {
    const file = yamlFile('port: -1\nslak:\n  command: /dr\nslack:\n  botToken: xoxb-in-a-file\n');
    const problems = problemsOf(() => loadConfig({ env: GOOD, configFile: file }));
    expect(problems).toEqual(
      expect.arrayContaining([
        `port in ${file}: must be a whole number from 0 to 65535`,
        expect.stringMatching(new RegExp(`^slak\\.command in ${file}: unknown setting`)),
        `slack.botToken in ${file}: secrets are read from the environment only; set SLACK_BOT_TOKEN instead`,
      ]),
    );
  });

  it('says when the file is missing or not YAML', () => {
    expect(problemsOf(() => loadConfig({ env: GOOD, configFile: '/nonexistent/dr.yaml' }))[0]).toMatch(
      /^config file \/nonexistent\/dr\.yaml: cannot be read/,
    );
    expect(problemsOf(() => loadConfig({ env: GOOD, configFile: yamlFile('port: [1, 2\n') }))[0]).toMatch(/cannot be read as YAML/);
    expect(problemsOf(() => loadConfig({ env: GOOD, configFile: yamlFile('- a\n- b\n') }))[0]).toMatch(/must be a YAML mapping/);
  });

  it('takes the role and file from DR_ROLE and DR_CONFIG_FILE when no flags are given', () => {
    const file = yamlFile('port: 4000\n');
    const config = loadConfig({ env: { ...GOOD, DR_ROLE: 'bot', DR_CONFIG_FILE: file } });
    expect(config.role).toBe('bot');
    expect(config.port).toBe(4000);
  });
});

describe('parseArgs', () => {
  it('reads --role and --config in both spellings', () => {
    expect(parseArgs(['--role', 'worker', '--config=/etc/dr.yaml'])).toEqual({ role: 'worker', configFile: '/etc/dr.yaml' });
  });

  it('refuses unknown flags and flags without a value, with the usage', () => {
    expect(problemsOf(() => parseArgs(['--verbose']))[0]).toContain('unknown argument --verbose (usage: dr-chatops');
    expect(problemsOf(() => parseArgs(['--role']))[0]).toContain('--role needs a value');
  });

  it('takes the team\'s own RTO/RPO per scenario, and names a bad one', () => {
    const config = loadConfig({ env: { ...GOOD, INCIDENT_TARGETS: 'data-corruption=90m/30m, single-az-failure=10m/0' } });
    expect(config.incidents.targets).toEqual({ 'data-corruption': { rtoMs: 90 * 60_000, rpoMs: 30 * 60_000 }, 'single-az-failure': { rtoMs: 10 * 60_000, rpoMs: 0 } });
    const problems = problemsOf(() => loadConfig({ env: { ...GOOD, INCIDENT_TARGETS: 'data-corrupton=90m/30m' } }));
    expect(problems.join('\n')).toContain('INCIDENT_TARGETS');
    expect(problems.join('\n')).toContain('`data-corrupton=90m/30m` must be <scenario>=<rto>/<rpo> like data-corruption=90m/30m');
  });

  it('keeps zonal shifts by 2h, looking every 5 minutes; refuses an extension over 72h, or looks too rare to come before a shift expires', () => {
    expect(loadConfig({ env: GOOD }).zonalShifts).toEqual({ keepEveryMs: 300_000, extendBy: '2h' });
    expect(loadConfig({ env: { ...GOOD, ZONAL_SHIFT_EXTEND_BY: '30m', ZONAL_SHIFT_KEEP_EVERY_MS: '600000' } }).zonalShifts).toEqual({ keepEveryMs: 600_000, extendBy: '30m' });
    expect(problemsOf(() => loadConfig({ env: { ...GOOD, ZONAL_SHIFT_EXTEND_BY: '73h' } })).join('\n')).toContain('ZONAL_SHIFT_EXTEND_BY: must be a whole number of minutes or hours, like 30m or 2h, at most 72h');
    expect(problemsOf(() => loadConfig({ env: { ...GOOD, ZONAL_SHIFT_EXTEND_BY: '10m' } })).join('\n')).toContain('ZONAL_SHIFT_KEEP_EVERY_MS: must be at most a third of ZONAL_SHIFT_EXTEND_BY (10m)');
  });
});
