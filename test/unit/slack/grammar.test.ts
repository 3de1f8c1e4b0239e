import { describe, expect, it } from 'vitest';
import { isUserError } from '../../../src/errors.ts';
import { closestCommand, parseDrCommand, tokenize } from '../../../src/slack/grammar.ts';

function userErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isUserError(err)) return err.message;
    throw err;
  }
  throw new Error('expected a UserError');
}

describe('tokenize', () => {
  it('splits on any whitespace and keeps quoted text together', () => {
    expect(tokenize('  declare  region-outage\t"API down in us-east-1" ')).toEqual(['declare', 'region-outage', 'API down in us-east-1']);
  });

  it('accepts the curly quotes Slack clients type', () => {
    expect(tokenize('declare x “API down” ‘really’')).toEqual(['declare', 'x', 'API down', 'really']);
  });

  it('keeps key=value pairs and quoted values in them', () => {
    expect(tokenize('run restore cluster="prod aurora" at=latest')).toEqual(['run', 'restore', 'cluster=prod aurora', 'at=latest']);
  });

  it('keeps an explicitly empty quoted argument', () => {
    expect(tokenize('a "" b')).toEqual(['a', '', 'b']);
  });

  it('refuses an unclosed quote with an example', () => {
    expect(userErrorOf(() => tokenize('declare x "API down'))).toContain('A quote (") is not closed');
  });
});

describe('parseDrCommand', () => {
  it('parses help, help <command> and ping, case-insensitively', () => {
    expect(parseDrCommand('')).toEqual({ name: 'help' });
    expect(parseDrCommand('HELP ping')).toEqual({ name: 'help', topic: 'ping' });
    expect(parseDrCommand('Ping')).toEqual({ name: 'ping' });
  });

  it('suggests the closest command for a typo, with the configured slash command', () => {
    expect(userErrorOf(() => parseDrCommand('pnig', '/recover'))).toBe(
      'Unknown command `pnig`. Did you mean `/recover ping`? Type `/recover help` to see every command.',
    );
    expect(userErrorOf(() => parseDrCommand('hlep'))).toContain('Did you mean `/dr help`?');
  });

  it('suggests nothing for a word that is not close to any command', () => {
    expect(closestCommand('terraform')).toBeUndefined();
    expect(userErrorOf(() => parseDrCommand('terraform'))).toBe('Unknown command `terraform`. Type `/dr help` to see every command.');
  });

  it('cuts a huge unknown word in the message', () => {
    const message = userErrorOf(() => parseDrCommand('x'.repeat(5000)));
    expect(message.length).toBeLessThan(200);
  });

  it('refuses arguments a command does not take, showing its usage', () => {
    expect(userErrorOf(() => parseDrCommand('ping now'))).toBe('`ping` takes no arguments. Usage: `/dr ping`');
    expect(userErrorOf(() => parseDrCommand('help a b'))).toBe('`help` takes at most one command name. Usage: `/dr help [command]`');
    expect(userErrorOf(() => parseDrCommand('help pnig'))).toContain('Did you mean `/dr ping`?');
  });
});

describe('run shortcuts', () => {
  it('maps restore db to the point-in-time or snapshot runbook', () => {
    expect(parseDrCommand('restore db prod-aurora --to 2026-11-15T10:00:00Z')).toEqual({
      name: 'run',
      runbookId: 'restore-database-pitr',
      params: { cluster: 'prod-aurora', to: '2026-11-15T10:00:00Z' },
      dryRun: false,
    });
    expect(parseDrCommand('restore db prod-aurora --to 15m ago')).toMatchObject({ params: { to: '15m ago' } });
    expect(parseDrCommand('restore db prod-aurora --latest --dry-run')).toMatchObject({ runbookId: 'restore-database-pitr', params: { to: 'latest' }, dryRun: true });
    expect(parseDrCommand('restore db prod-aurora --snapshot=latest')).toMatchObject({ runbookId: 'restore-database-snapshot', params: { snapshot: 'latest' } });
  });

  it('maps rollback, failover, drill, check and restore cluster', () => {
    expect(parseDrCommand('rollback api-gateway -n payments --to-revision 5')).toEqual({
      name: 'run',
      runbookId: 'rollback-deployment',
      params: { deployment: 'api-gateway', namespace: 'payments', toRevision: '5' },
      dryRun: false,
    });
    expect(parseDrCommand('failover --target dr')).toMatchObject({ runbookId: 'failover-region', params: { target: 'dr' } });
    expect(userErrorOf(() => parseDrCommand('failover --region us-west-2'))).toContain('`failover` acts on the DR target, which names its region: give `--target <name>`');
    expect(parseDrCommand('drill --backup daily-full-backup-20261125020000')).toMatchObject({ runbookId: 'dr-drill', params: { backup: 'daily-full-backup-20261125020000' } });
    expect(parseDrCommand('check')).toMatchObject({ runbookId: 'readiness-check', params: {} });
    expect(parseDrCommand('restore cluster --schedule daily-full-backup')).toMatchObject({ runbookId: 'restore-cluster', params: { schedule: 'daily-full-backup' } });
  });

  it('maps evacuate to az-evacuate (and --restore to az-restore) with the zone by name; an AZ id is refused, saying why', () => {
    const web = 'arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef';
    expect(parseDrCommand(`evacuate us-east-1a resources=${web} healthUrl=https://api.internal/health drain=true`)).toEqual({
      name: 'run',
      runbookId: 'az-evacuate',
      params: { zone: 'us-east-1a', resources: web, healthUrl: 'https://api.internal/health', drain: 'true' },
      dryRun: false,
    });
    expect(parseDrCommand(`evacuate us-west-2-lax-1a resources=${web} --dry-run`)).toMatchObject({ runbookId: 'az-evacuate', params: { zone: 'us-west-2-lax-1a' }, dryRun: true });
    expect(parseDrCommand(`evacuate --restore us-east-1a resources=${web}`)).toEqual({ name: 'run', runbookId: 'az-restore', params: { zone: 'us-east-1a', resources: web }, dryRun: false });

    expect(userErrorOf(() => parseDrCommand(`evacuate use1-az1 resources=${web}`))).toMatch(
      /^`evacuate` takes the zone by name: `use1-az1` must be an AZ name such as us-east-1a \(the node label topology\.kubernetes\.io\/zone\), not an AZ id such as use1-az1\. Usage: `\/dr evacuate <zone> /,
    );
    expect(userErrorOf(() => parseDrCommand('evacuate --restore use1-az1'))).toContain('`use1-az1` must be an AZ name such as us-east-1a');
    expect(userErrorOf(() => parseDrCommand('evacuate'))).toContain('`evacuate` needs the Availability Zone by name');
    expect(userErrorOf(() => parseDrCommand('evacuate us-east-1a us-east-1b'))).toContain('takes one zone, then parameters as key=value; `us-east-1b` is not one');
    expect(userErrorOf(() => parseDrCommand('evacuate us-east-1a zone=us-east-1b'))).toContain('`zone` is given twice');
    expect(userErrorOf(() => parseDrCommand('evacuate us-east-1a --drain'))).toContain('Unknown option `--drain`');
  });

  it('takes any other runbook parameter after a shortcut as key=value, once', () => {
    expect(parseDrCommand('restore db prod-aurora --latest healthUrl=https://api.internal/health')).toEqual({
      name: 'run',
      runbookId: 'restore-database-pitr',
      params: { cluster: 'prod-aurora', to: 'latest', healthUrl: 'https://api.internal/health' },
      dryRun: false,
    });
    expect(parseDrCommand('failover --target dr healthUrl=https://api.internal/health')).toMatchObject({ params: { target: 'dr', healthUrl: 'https://api.internal/health' } });
    expect(() => parseDrCommand('restore db prod-aurora --latest cluster=other')).toThrow('`cluster` is given twice');
  });

  it('passes key=value pairs (quoted values too) to any runbook', () => {
    expect(parseDrCommand('run restore-database-pitr cluster=prod-aurora to="15m ago" --dry-run')).toEqual({
      name: 'run',
      runbookId: 'restore-database-pitr',
      params: { cluster: 'prod-aurora', to: '15m ago' },
      dryRun: true,
    });
  });

  it('parses run ids for show, audit and cancel (with a reason)', () => {
    expect(parseDrCommand('show r7k2m9x4')).toEqual({ name: 'show', runId: 'r7k2m9x4' });
    expect(parseDrCommand('show r7k2m9x4 page 2')).toEqual({ name: 'show', runId: 'r7k2m9x4', page: 2 });
    expect(userErrorOf(() => parseDrCommand('show r7k2m9x4 page 99999'))).toContain('needs a page number like 2, not `99999`');
    expect(parseDrCommand('cancel r7k2m9x4 wrong region')).toEqual({ name: 'cancel', runId: 'r7k2m9x4', reason: 'wrong region' });
    expect(userErrorOf(() => parseDrCommand('show <@U123>'))).toContain('needs a run id like r7k2m9x4');
  });

  it('explains each mistake with the usage and an example', () => {
    expect(userErrorOf(() => parseDrCommand('restore db'))).toBe(
      '`restore` needs the cluster to restore from. Usage: `/dr restore db <cluster> --latest | --to <time> | --snapshot <id|latest> [key=value …]   ·   restore cluster [--backup <name>] [--schedule <name>] [key=value …]`, e.g. `/dr restore db prod-aurora --to 2026-11-15T10:00:00Z healthUrl=https://api.internal/health`',
    );
    expect(userErrorOf(() => parseDrCommand('restore db prod-aurora'))).toContain('needs exactly one of --latest, --to <time> or --snapshot <id|latest>');
    expect(userErrorOf(() => parseDrCommand('restore db prod-aurora --to'))).toBe('`--to` needs a value.');
    expect(userErrorOf(() => parseDrCommand('restore db prod-aurora --latest --latest2'))).toContain('Unknown option `--latest2`');
    expect(userErrorOf(() => parseDrCommand('restore dbs prod'))).toContain('restores db or cluster, not `dbs`');
    expect(userErrorOf(() => parseDrCommand('rollback'))).toContain('`rollback` needs the deployment');
    expect(userErrorOf(() => parseDrCommand('failover us-west-2'))).toContain('`failover` takes only --target');
    expect(userErrorOf(() => parseDrCommand('run'))).toContain('`run` needs a runbook id');
    expect(userErrorOf(() => parseDrCommand('rollbak api'))).toContain('Did you mean `/dr rollback`?');
  });
});


describe('incident commands', () => {
  it('opens the form for a bare declare, and parses the one-line form with its options', () => {
    expect(parseDrCommand('declare')).toEqual({ name: 'declare-form' });
    expect(parseDrCommand('declare region-outage "API down" --severity sev2 --services api,db --impact "EU users" --private')).toEqual({
      name: 'declare',
      scenario: 'region-outage',
      title: 'API down',
      severity: 'sev2',
      services: ['api', 'db'],
      impact: 'EU users',
      public: false,
    });
    expect(userErrorOf(() => parseDrCommand('declare region-outage'))).toContain('needs a scenario and a title');
    expect(parseDrCommand('status monitoring "Restore done"')).toEqual({ name: 'status', state: 'monitoring', message: 'Restore done' });
    expect(userErrorOf(() => parseDrCommand('status monitoring'))).toContain('needs a status and what changed');
  });

  it('refuses a parameter given twice, and keeps __proto__ a plain (unknown) name', () => {
    expect(userErrorOf(() => parseDrCommand('run quick a=1 a=2'))).toContain('`a` is given twice');
    const parsed = parseDrCommand('run quick __proto__=x');
    expect(parsed.name === 'run' && Object.hasOwn(parsed.params, '__proto__')).toBe(true);
  });
});
