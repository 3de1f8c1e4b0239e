import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { isUserError } from '../../../src/errors.ts';
import { parseScheduleCommand } from '../../../src/schedules/grammar.ts';
import { configSchedules, parseCadence } from '../../../src/schedules/model.ts';
import { parseDrCommand, tokenize } from '../../../src/slack/grammar.ts';
import { renderHelp } from '../../../src/slack/views/help.ts';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isUserError(err) || err instanceof Error) return err.message;
  }
  throw new Error('expected a refusal');
}

const slack = (text: string) => parseDrCommand(text);

describe('/dr schedule: the words', () => {
  it('parses list, add with every or a cron expression (quoted or not), parameters and a channel, and pause/resume/delete', () => {
    expect(slack('schedule')).toEqual({ name: 'schedule', command: { verb: 'list' } });
    expect(slack('schedule list')).toEqual({ name: 'schedule', command: { verb: 'list' } });
    expect(slack('schedule add readiness-check every 30m')).toEqual({ name: 'schedule', command: { verb: 'add', runbookId: 'readiness-check', cadence: 'every 30m', params: {} } });
    expect(slack('schedule add readiness-check "0 6 * * 1" cluster=prod-aurora here')).toEqual({
      name: 'schedule',
      command: { verb: 'add', runbookId: 'readiness-check', cadence: '0 6 * * 1', params: { cluster: 'prod-aurora' }, channel: 'here' },
    });
    // Slack sends a picked channel as <#C…|name>; an unquoted cron expression arrives as five words.
    expect(slack('schedule add readiness-check */15 * * * MON-FRI <#C0OPS00001|dr-ops>')).toEqual({
      name: 'schedule',
      command: { verb: 'add', runbookId: 'readiness-check', cadence: '*/15 * * * MON-FRI', params: {}, channel: '<#C0OPS00001|dr-ops>' },
    });
    expect(slack('schedule pause s-k2m9x4')).toEqual({ name: 'schedule', command: { verb: 'pause', id: 's-k2m9x4' } });
    expect(slack('schedule DELETE readiness-default')).toEqual({ name: 'schedule', command: { verb: 'delete', id: 'readiness-default' } });
    expect(slack('schedule approve s-k2m9x4')).toEqual({ name: 'schedule', command: { verb: 'approve', id: 's-k2m9x4' } });
    // Readiness items a schedule depends on: not a runbook parameter (no `-` in those).
    expect(slack('schedule add restore-test every 1d target=drill skip-when-red=aurora.retention.prod-aurora,velero.schedule.hourly here')).toEqual({
      name: 'schedule',
      command: { verb: 'add', runbookId: 'restore-test', cadence: 'every 1d', params: { target: 'drill' }, channel: 'here', skipWhenRed: ['aurora.retention.prod-aurora', 'velero.schedule.hourly'] },
    });
    // The CLI's words (the shell keeps a quoted cron expression whole).
    expect(parseScheduleCommand(['add', 'probe', '0 6 * * 1', 'C0OPS00001'], (w) => new Error(w))).toEqual({ verb: 'add', runbookId: 'probe', cadence: '0 6 * * 1', params: {}, channel: 'C0OPS00001' });
  });

  it('says what is wrong and how to write it', () => {
    expect(refusal(() => slack('schedule add'))).toContain('`schedule add` needs a runbook id first (`runbooks` lists them), then when it runs');
    expect(refusal(() => slack('schedule add readiness-check'))).toContain('`schedule add readiness-check` needs when it runs: `every 30m` (a duration) or a cron expression of five fields in UTC, in quotes');
    expect(refusal(() => slack('schedule add readiness-check 30m'))).toContain('A duration needs `every` before it: `every 30m`');
    expect(refusal(() => slack('schedule add readiness-check every'))).toContain('`every` needs a duration after it');
    expect(refusal(() => slack('schedule add readiness-check every 30m cluster=a cluster=b'))).toContain('`cluster` is given twice');
    expect(refusal(() => slack('schedule add readiness-check every 30m here #ops'))).toContain('`schedule add` takes one channel');
    expect(refusal(() => slack('schedule add readiness-check every 30m please'))).toContain('`please` is neither (a cron expression goes in quotes)');
    expect(refusal(() => slack('schedule pause'))).toContain("`schedule pause` needs the schedule's id");
    expect(refusal(() => slack('schedule approve'))).toContain("`schedule approve` needs the schedule's id");
    expect(refusal(() => slack('schedule add probe every 1h skip-when-red='))).toContain('`skip-when-red=` needs readiness item ids after it');
    expect(refusal(() => slack('schedule add probe every 1h skip-when-red=a skip-when-red=b'))).toContain('`skip-when-red=` is given twice');
    expect(refusal(() => slack('schedule pause a b'))).toContain('`schedule pause` takes one schedule id');
    expect(refusal(() => slack('schedule stop s-k2m9x4'))).toContain('`schedule` does `list`, `add`, `approve`, `pause`, `resume`, `delete`, not `stop`');
    // Every refusal ends with the usage and an example.
    expect(refusal(() => slack('schedule stop x'))).toContain('Usage: `/dr schedule list | add <runbook> <every 30m | "cron">');
    expect(tokenize('schedule add x "0 6 * * 1"')).toEqual(['schedule', 'add', 'x', '0 6 * * 1']);
  });

  it('is in /dr help', () => {
    expect(JSON.stringify(renderHelp('/dr').blocks)).toContain('`/dr schedule list | add <runbook> <every 30m | \\"cron\\"> [key=value …] [skip-when-red=<item id>,…] [#channel] | approve <id> | pause <id> | resume <id> | delete <id>`');
    expect(JSON.stringify(renderHelp('/dr', 'schedule').blocks)).toContain('>`/dr schedule add readiness-check every 30m here`');
  });
});

describe('when a schedule runs', () => {
  it('takes every <duration> of a minute or more, or five cron fields in UTC', () => {
    expect(parseCadence('every 30m')).toEqual({ every: 1_800_000 });
    expect(parseCadence('EVERY  2h')).toEqual({ every: 7_200_000 });
    expect(parseCadence('0 6 * * 1')).toEqual({ cron: '0 6 * * 1' });
    expect(refusal(() => parseCadence('every 10s'))).toBe('`every 10s` is more often than a schedule may run (at most every 1m): write `every 1m` or longer.');
    expect(refusal(() => parseCadence('every 400d'))).toContain('is longer than a year');
    expect(refusal(() => parseCadence('0 6 * * 1 2026'))).toContain('is not a schedule: write `every <duration>`');
    expect(refusal(() => parseCadence('0 25 * * *'))).toContain('`0 25 * * *` is not a valid cron expression');
    // A test may allow itself less; people may not.
    expect(parseCadence('every 500ms', 500)).toEqual({ every: 500 });
  });
});

describe('schedules in the configuration', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, needsSlack: false });

  it('reads DR_SCHEDULES and readiness.every, with the readiness check every 30 minutes unless off', () => {
    const config = load({ DR_SCHEDULES: '[{"id":"weekly-probe","runbook":"probe","cron":"0 6 * * 1","params":{"label":"weekly"},"channel":"C0OPS00001"}]' });
    expect(config.schedules).toEqual([{ id: 'weekly-probe', runbookId: 'probe', cadence: { cron: '0 6 * * 1' }, params: { label: 'weekly' }, channel: 'C0OPS00001' }]);
    expect(load({ DR_SCHEDULES: '[{"id":"red-probe","runbook":"probe","every":"1h","skipWhenRed":["aurora.retention.prod-aurora"]}]' }).schedules[0]?.skipWhenRed).toEqual(['aurora.retention.prod-aurora']);
    expect(config.readiness.every).toEqual({ every: 1_800_000 });
    expect(configSchedules({ schedules: config.schedules, readinessEvery: config.readiness.every }).map((s) => s.id)).toEqual(['readiness-default', 'weekly-probe']);
    expect(load({ DR_READINESS_EVERY: 'off' }).readiness.every).toBeNull();
    expect(load({ DR_READINESS_EVERY: '2h' }).readiness.every).toEqual({ every: 7_200_000 });
  });

  it('names every bad entry at start', () => {
    expect(refusal(() => load({ DR_READINESS_EVERY: '10s' }))).toContain('DR_READINESS_EVERY: must be a duration of a minute or more (like 30m or 2h), or off');
    const bad = refusal(() =>
      load({ DR_SCHEDULES: '[{"id":"a1","runbook":"probe","every":"30m","cron":"0 6 * * 1"},{"id":"s-mine","runbook":"probe","every":"1h"},{"id":"b1","runbook":"probe","every":"5s"},{"id":"a1","runbook":"probe","every":"1h"}]' }),
    );
    expect(bad).toContain('schedule a1 needs exactly one of every (like 30m) or cron (like "0 6 * * 1")');
    expect(bad).toContain('must not start with s- (kept for schedules added in Slack or the CLI)');
    expect(bad).toContain('schedule b1: `every 5s` is more often than a schedule may run');
    expect(refusal(() => load({ DR_SCHEDULES: 'not: a list' }))).toContain('DR_SCHEDULES: must be a list of schedules');
    expect(refusal(() => load({ DR_SCHEDULES: '[{"id":"c1","runbook":"probe","every":"1h","skipWhenRed":["Not An Id"]}]' }))).toContain('must be readiness item ids like aurora.retention.prod-aurora');
    expect(refusal(() => load({ DR_SCHEDULES: '[{"id":"a1","runbook":"probe","every":"1h"},{"id":"a1","runbook":"probe","every":"2h"}]' }))).toContain('the id a1 is given twice');
  });
});
