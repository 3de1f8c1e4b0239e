import { describe, expect, it } from 'vitest';
import type { LatestReadiness } from '../../../src/readiness/store.ts';
import type { ReadinessTransition } from '../../../src/readiness/transitions.ts';
import type { Run } from '../../../src/runs/model.ts';
import { parseDrCommand } from '../../../src/slack/grammar.ts';
import { blockTextLength } from '../../../src/slack/limits.ts';
import { renderReadinessNotice } from '../../../src/slack/views/readiness-notice.ts';
import { readinessHomeBlocks, renderReadinessStatus } from '../../../src/slack/views/readiness.ts';
import { renderRunMessage } from '../../../src/slack/views/run.ts';
import { type ItemResult, ItemResultSchema, type ItemStatus, type ReadinessReport } from '../../../src/steps/readiness/report.ts';
import { exposure, item, report, target } from '../../support/readiness.ts';
import { runFields } from '../../support/runs.ts';
import { checkMessage } from '../../support/slack-limits.ts';

const NOW = Date.UTC(2026, 11, 7, 10, 30);
/** What Slack takes in a Home tab (written here on their own, not imported from the bot). */
const HOME_BLOCKS = 100;
const HOME_SECTION_TEXT = 3_000;
const BLOCK_TEXT_BUDGET = 9_000;

const readable = (blocks: unknown) => JSON.stringify(blocks);
const latestOf = (r: ReadinessReport): LatestReadiness => ({
  targets: r.targets.map((t) => ({ runId: 'rready001', report: t })),
  exposures: { runId: 'rready001', checkedAt: r.checkedAt, exposures: r.exposures },
});
/** An item at (about) the schema's longest, with text that must be escaped. */
const longItem = (id: string, status: ItemStatus): ItemResult =>
  ItemResultSchema.parse(item(id, status, { title: `T${id} <!channel> ${'t'.repeat(170)}`, value: 'v'.repeat(500), objective: 'o'.repeat(200), reason: `R${id} ${'r'.repeat(980)}`, fix: `F${id} ${'f'.repeat(480)}` }));

const small = report(NOW - 5 * 60_000, [
  target('prod', [item('velero.schedule.hourly', 'pass', { title: 'Velero schedule hourly-backup as the plan writes it', value: 'every 1h, TTL 168h', objective: 'every 1h, TTL 168h' }), item('aurora.retention', 'fail', { title: 'Aurora keeps automated backups 35 days', value: 'kept 7 days', reason: 'BackupRetentionPeriod is 7', fix: 'set it to 35' }), item('images.dr', 'unknown', { title: 'Images exist in the DR region', reason: 'ECR did not answer in 10s' })], NOW - 5 * 60_000),
  target('dr', [item('dr-region.cluster', 'warn', { title: 'DR cluster ACTIVE', reason: 'node group scaled to 0' })], NOW - 5 * 60_000, 'dr'),
], [exposure('region-outage', 720, 300, 'fail'), exposure('data-corruption', undefined, 300, 'unknown'), exposure('single-az-failure', 0, 0, 'pass')]);

/** Three targets of 120 items each, every text at its longest: far more than one message holds. */
const huge = report(NOW, ['prod', 'dr', 'stage'].map((name, t) => target(name, Array.from({ length: 120 }, (_, i) => longItem(`item.${t}.${i}`, (['pass', 'fail', 'warn', 'unknown', 'pass', 'pass'] as const)[i % 6] ?? 'pass')), NOW, t === 1 ? 'dr' : 'primary')), Array.from({ length: 30 }, (_, i) => exposure(`scenario-${i}`, i % 3 ? 60 * i : undefined, 300, i % 3 ? 'fail' : 'unknown')));

describe('readiness views', () => {
  it('/dr check status: per target, failing items first with why and how to fix, then the live RPO table', () => {
    const status = renderReadinessStatus(latestOf(small), NOW, '/dr');
    const text = readable(status.blocks);
    expect(status.text).toBe('Readiness: 1 item failing (latest check)');
    expect(text).toContain('*prod* (primary) · checked 2026-12-07 10:25 UTC (5m ago) · :red_circle: 1 fail · :white_circle: 1 unknown · :large_green_circle: 1 pass');
    const fail = text.indexOf(':red_circle: *Aurora keeps automated backups 35 days* — kept 7 days · objective ≥ 35 days');
    const unknown = text.indexOf(':white_circle: *Images exist in the DR region*');
    const pass = text.indexOf(':large_green_circle: *Velero schedule hourly-backup as the plan writes it* — every 1h, TTL 168h · objective every 1h, TTL 168h');
    expect(fail).toBeGreaterThan(0);
    expect(fail).toBeLessThan(unknown);
    expect(unknown).toBeLessThan(pass);
    expect(text).toContain('_Why:_ BackupRetentionPeriod is 7');
    expect(text).toContain('_Fix:_ set it to 35');
    expect(text).toContain('*dr* (DR)');
    expect(text).toContain(':red_circle: *Region outage* — 12m · objective 5m · _now − LatestRestorableTime of prod-aurora_');
    expect(text).toContain(':white_circle: *Data corruption* — not measured · objective 5m · _the Aurora cluster could not be asked_');
    expect(text).toContain(':large_green_circle: *Single az failure* — 0s · objective 0s');
    expect(text).not.toContain('rready001');
    expect(checkMessage(status)).toEqual({ warnings: [] });
  });

  it('/dr check status before any check says so and how to run one', () => {
    const status = renderReadinessStatus({ targets: [] }, NOW, '/dr');
    expect(status.text).toBe('No readiness check has been recorded yet. `/dr check` runs one.');
  });

  it('a checklist too big for one message is cut within Slack\'s limits, failing items kept first and the rest counted', () => {
    const status = renderReadinessStatus(latestOf(huge), NOW, '/dr');
    expect(checkMessage(status)).toEqual({ warnings: [] });
    expect(blockTextLength(status.blocks)).toBeLessThanOrEqual(BLOCK_TEXT_BUDGET);
    const text = readable(status.blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
    for (const name of ['prod', 'dr', 'stage']) {
      const t = ['prod', 'dr', 'stage'].indexOf(name);
      // The first failing item of each target is shown; no pass is shown while failing items were left out.
      expect(text).toContain(`Titem.${t}.1 `);
      const more = new RegExp(`… (\\d+) more items: (\\d+) fail, (\\d+) unknown, (\\d+) warn, (\\d+) pass`).exec(text.slice(text.indexOf(`*${name}*`)));
      expect(more, name).not.toBeNull();
      const shown = (text.match(new RegExp(`Titem\\.${t}\\.\\d+ `, 'g')) ?? []).length;
      expect(shown + Number(more?.[1])).toBe(120);
      expect(Number(more?.[5])).toBe(60);
    }
    expect(text).toMatch(/… \d+ more scenarios: \d+ fail, \d+ unknown/);
  });

  it('the App Home shows each target\'s counts and what is not passing, and the live RPO, within the Home tab\'s limits', () => {
    const text = readable(readinessHomeBlocks(latestOf(small), NOW, '/dr'));
    expect(text).toContain('*Readiness* (latest check per target)');
    expect(text).toContain(':red_circle: 1 fail · :white_circle: 1 unknown · :large_green_circle: 1 pass');
    expect(text).toContain('*Aurora keeps automated backups 35 days*');
    expect(text).not.toContain('*Velero schedule hourly-backup as the plan writes it*');
    expect(text).toContain('*Live RPO*');

    // Readiness takes part of the tab (runs and schedules share it): well within its limits.
    const big = readinessHomeBlocks(latestOf(huge), NOW, '/dr');
    expect(big.length).toBeLessThanOrEqual(HOME_BLOCKS / 4);
    expect(blockTextLength(big)).toBeLessThanOrEqual(BLOCK_TEXT_BUDGET / 2);
    for (const b of big) if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(HOME_SECTION_TEXT);
    expect(readable(big)).toMatch(/… \d+ more items: /);

    expect(readable(readinessHomeBlocks({ targets: [] }, NOW, '/dr'))).toContain('No check yet. `/dr check` runs one');
  });

  it('a readiness run\'s message shows the checklist and the live RPO instead of the raw report', () => {
    const run = readinessRun(small);
    const message = renderRunMessage(run, NOW);
    const text = readable(message.blocks);
    expect(text).toContain(':red_circle: *Aurora keeps automated backups 35 days* — kept 7 days');
    expect(text).toContain('*Live RPO*');
    expect(text).not.toContain('checkedAt');
    expect(text).not.toContain('`summary.report`');
    // The targets' checklists it joined are in the table too; other outputs are listed as ever.
    expect(text).not.toContain('`prod.report`');
    expect(text).toContain('`summary.failed` 1');
    expect(checkMessage(message)).toEqual({ warnings: [] });

    const bigMessage = renderRunMessage(readinessRun(huge), NOW);
    expect(checkMessage(bigMessage)).toEqual({ warnings: [] });
    expect(readable(bigMessage.blocks)).toMatch(/… \d+ more items: /);

    // Any other run's outputs are shown as before.
    const other = renderRunMessage({ ...readinessRun(small), plan: [{ ...summaryStep, use: 'readiness.other' }] }, NOW);
    expect(readable(other.blocks)).toContain('`summary.report`');
  });

  it('a red notice says what, where, since when, measured against the objective, why and how to fix; a green one how long it was red', () => {
    const base: ReadinessTransition = {
      kind: 'red',
      key: 'rready001:prod:aurora.retention',
      runId: 'rready001',
      target: 'prod',
      role: 'primary',
      item: item('aurora.retention', 'fail', { title: 'Aurora keeps <!here> backups', value: 'kept 7 days', reason: 'BackupRetentionPeriod is 7', fix: 'aws rds modify-db-cluster --backup-retention-period 35' }),
      at: NOW,
      redSince: NOW - 30 * 60_000,
      previous: 'pass',
      lastPassAt: NOW - 60 * 60_000,
    };
    const red = renderReadinessNotice(base, '/dr');
    const text = readable(red.blocks);
    expect(red.text).toBe('Readiness: Aurora keeps &lt;!here&gt; backups turned red on prod');
    expect(text).toContain('*Readiness: Aurora keeps &lt;!here&gt; backups turned red* on `prod` (primary)');
    expect(text).toContain('*Measured:* kept 7 days · *objective:* ≥ 35 days');
    expect(text).toContain('*Why:* BackupRetentionPeriod is 7');
    expect(text).toContain('*Fix:* aws rds modify-db-cluster --backup-retention-period 35');
    expect(text).toContain('Failing since 2026-12-07 10:00 UTC (it was pass at the check before; last passed 2026-12-07 09:30 UTC)');
    expect(checkMessage(red)).toEqual({ warnings: [] });

    const green = renderReadinessNotice({ ...base, kind: 'green', item: { ...base.item, status: 'pass', value: 'kept 35 days' }, at: NOW + 60 * 60_000 }, '/dr');
    expect(readable(green.blocks)).toContain('*Readiness: Aurora keeps &lt;!here&gt; backups passes again* on `prod`');
    expect(readable(green.blocks)).toContain('It was red for 1h 30m, since 2026-12-07 10:00 UTC');
    expect(checkMessage(renderReadinessNotice({ ...base, item: longItem('x', 'fail') }, '/dr'))).toEqual({ warnings: [] });
  });

  it('`/dr check` still runs a fresh check; `/dr check status` asks for the stored one', () => {
    expect(parseDrCommand('check')).toEqual({ name: 'run', runbookId: 'readiness-check', params: {}, dryRun: false });
    expect(parseDrCommand('check status')).toEqual({ name: 'check-status' });
    expect(parseDrCommand('check STATUS')).toEqual({ name: 'check-status' });
    expect(() => parseDrCommand('check everything')).toThrow('`check` takes nothing (run a check now) or `status` (the latest results), not `everything`. Usage: `/dr check [status]`');
  });
});

const summaryStep = { stepId: 'summary', name: 'Sum up the checklist', use: 'readiness.summary', with: {}, timeoutMs: 60_000, retries: 0, lines: [] };

function readinessRun(r: ReadinessReport): Run {
  return {
    ...runFields({ runbookId: 'readiness-check', runbookTitle: 'DR readiness check' }),
    policy: { required: 0, users: [], groups: [], allowSelfApproval: false, expiresInMs: 900_000 },
    plan: [{ ...summaryStep, stepId: 'prod', name: 'Check prod', use: 'readiness.checklist' }, summaryStep],
    state: 'succeeded',
    steps: {
      prod: { state: 'succeeded', attempts: 1, startedAt: NOW - 3_000, finishedAt: NOW - 2_000, outputs: { report: JSON.stringify(r.targets[0]) } },
      summary: { state: 'succeeded', attempts: 1, startedAt: NOW - 2_000, finishedAt: NOW - 1_000, outputs: { report: JSON.stringify(r), failed: r.targets.flatMap((t) => t.items).filter((i) => i.status === 'fail').length } },
    },
    startedAt: NOW - 3_000,
    finishedAt: NOW - 1_000,
  };
}
