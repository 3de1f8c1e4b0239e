import { describe, expect, it } from 'vitest';
import { DrillResultSchema, resultOf } from '../../../src/drills/model.ts';
import { mdText, renderDrillReport } from '../../../src/drills/report.ts';
import { median, trendOf, trendsOf, trendText } from '../../../src/drills/trend.ts';
import { parseRunbook } from '../../../src/runbooks/load.ts';
import { parseDrCommand } from '../../../src/slack/grammar.ts';
import { buildRegistry } from '../../../src/steps/registry.ts';
import { drillReportComment, drillsHomeBlocks, renderDrills } from '../../../src/slack/views/drills.ts';
import { drillRecord } from '../../support/drills.ts';
import { checkMessage } from '../../support/slack-limits.ts';

const NOW = Date.UTC(2026, 11, 7, 10, 30);
const DAY = 24 * 3_600_000;
const MIN = 60_000;

/** Drills of data-corruption a day apart, oldest first, that recovered in these minutes (undefined: did not recover). */
const series = (minutes: (number | undefined)[]) =>
  minutes.map((m, i) =>
    resultOf(
      drillRecord('data-corruption', NOW - (minutes.length - i) * DAY, m === undefined ? { achievedRtoMs: undefined, passed: false, outcome: 'failed', reasons: ['the run failed at step restore: no backup'] } : { achievedRtoMs: m * MIN }),
    ),
  );

describe('the trend of a scenario', () => {
  it('shows the last five achieved RTOs oldest first; the newest against the median of the ones before it', () => {
    const better = trendOf(series([50, 40, 44, 42, 46, 35]));
    expect(better?.recentRtoMs).toEqual([40, 44, 42, 46, 35].map((m) => m * MIN));
    expect(better?.baselineMs).toBe(43 * MIN);
    expect(better?.direction).toBe('better');
    expect(trendText(better!)).toBe('RTO 40m → 44m → 42m → 46m → 35m, ↓ better than the median of the 4 before (43m)');

    expect(trendOf(series([30, 30, 40]))?.direction).toBe('worse');
    // Within 5% of the median: steady.
    expect(trendText(trendOf(series([40, 41]))!)).toBe('RTO 40m → 41m, → steady, within 5% of the median of the one before (40m)');
  });

  it('drills that did not recover have no RTO: they count in "passed of the last five", not in the RTOs', () => {
    const trend = trendOf(series([30, undefined, 20, undefined]));
    expect(trend?.recentRtoMs).toEqual([30 * MIN, 20 * MIN]);
    expect(trend?.direction).toBe('better');
    expect([trend?.passedOfLast, trend?.lastCount, trend?.last.passed]).toEqual([2, 4, false]);
    expect(trendText(trendOf(series([25]))!)).toBe('RTO 25m (the first that recovered: nothing to compare yet)');
    expect(trendText(trendOf(series([undefined]))!)).toBe('no drill recovered yet: no RTO to compare');
  });

  it('one trend per scenario with drills, in the DR plan\'s order', () => {
    const drills = [resultOf(drillRecord('complete-infrastructure-loss', NOW - DAY)), ...series([10, 12])];
    expect(trendsOf(drills).map((t) => t.scenario)).toEqual(['data-corruption', 'complete-infrastructure-loss']);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe('drill views', () => {
  it('/dr drills: the trend per scenario, then each drill newest first with RTO and RPO against the objectives and why it failed', () => {
    const drills = series([50, 40, undefined]).reverse();
    const message = renderDrills({ listed: drills, all: drills, now: NOW, slash: '/dr' });
    const text = JSON.stringify(message.blocks);
    expect(message.text).toBe('Drills: 3 drills recorded; the last drill of 1 scenario failed');
    expect(text).toContain(':x: *Data corruption* — last failed 2026-12-06 10:30 UTC · RTO 50m → 40m, ↓ better than the median of the one before (50m) · objective 2h · 2 of the last 3 drills passed');
    const lines = [drills[0], drills[1], drills[2]].map((d) => text.indexOf(`\`${d?.runId ?? ''}\``));
    expect(lines.every((i) => i > 0)).toBe(true);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(text).toContain(':white_check_mark: 2026-12-05 10:30 UTC · *Quarterly DR drill*');
    expect(text).toContain('RTO 40m of 2h · RPO 1m of 1h');
    expect(text).toContain('RTO not achieved (objective 2h)');
    expect(text).toContain('_Why:_ the run failed at step restore: no backup');
  });

  it('escapes what a runbook says, and stays within Slack\'s limits with 1,200 drills of long titles and reasons', () => {
    const hostile = resultOf(drillRecord('region-outage', NOW - DAY, { runbookTitle: 'Drill <!channel> *now*', passed: false, reasons: ['<@U0ALICE001> & <https://x|y>'] }));
    const text = JSON.stringify(renderDrills({ listed: [hostile], all: [hostile], now: NOW, slash: '/dr' }).blocks);
    expect(text).toContain('Drill &lt;!channel&gt; *now*');
    expect(text).toContain('&lt;@U0ALICE001&gt; &amp; &lt;https://x|y&gt;');
    expect(text).not.toContain('<!channel>');

    const many = Array.from({ length: 1_200 }, (_, i) =>
      resultOf(drillRecord(i % 2 ? 'data-corruption' : 'region-outage', NOW - i * MIN, { runbookTitle: `T${'t'.repeat(149)}`, passed: i % 3 !== 0, reasons: i % 3 ? [] : ['r'.repeat(400)] })),
    );
    const big = renderDrills({ listed: many, all: many, now: NOW, slash: '/dr' });
    expect(checkMessage(big)).toEqual({ warnings: [] });
    expect(JSON.stringify(big.blocks)).toContain('… and ');
    const home = drillsHomeBlocks(many.slice(0, 6), NOW, '/dr');
    expect(checkMessage({ text: 'home', blocks: home })).toEqual({ warnings: [] });
  });

  it('the App Home: the last result per scenario without run ids, and the scenarios never drilled', () => {
    const last = [resultOf(drillRecord('data-corruption', NOW - 2 * DAY)), resultOf(drillRecord('region-outage', NOW - DAY, { passed: false, achievedRtoMs: 5 * 3_600_000, reasons: ['RTO missed'] }))];
    const text = JSON.stringify(drillsHomeBlocks(last, NOW, '/dr'));
    expect(text).toContain(':white_check_mark: *Data corruption* — passed 2026-12-05 10:30 UTC (48h ago)');
    expect(text).toContain(':x: *Region-wide outage* — failed 2026-12-06 10:30 UTC');
    expect(text).toContain('RTO 5h of 4h');
    expect(text).toContain('_Never drilled:_ Single AZ failure, Security breach, Accidental deletion, Complete infrastructure loss');
    expect(text).not.toContain(last[0]?.runId ?? '?');
    expect(JSON.stringify(drillsHomeBlocks([], NOW, '/dr'))).toContain('No drill recorded yet.');
  });

  it('the message with the report file says pass or fail, RTO and RPO, escaped', () => {
    expect(drillReportComment(resultOf(drillRecord('data-corruption', NOW, { runId: 'rabc', runbookTitle: 'Restore <test>' })))).toBe(
      ':white_check_mark: Drill *Restore &lt;test&gt;* passed (`rabc`, Data corruption): RTO 10m of 2h; RPO 1m of 1h. The report (timeline, each step and its duration, RTO and RPO against the objectives) is attached.',
    );
  });
});

describe('the report file', () => {
  it('escapes every value from the run, so nothing in it is read as Markdown or HTML', () => {
    expect(mdText('a | b <script> *x* `y`\nnext')).toBe('a \\| b \\<script\\> \\*x\\* \\`y\\` next');
    const record = drillRecord('data-corruption', NOW, { runbookTitle: '# <img src=x onerror=alert(1)>', passed: false, reasons: ['step | broke'], steps: [{ stepId: 'restore', name: 'Restore | `all`', use: 'wait', state: 'failed', error: '<b>boom</b>\n| x |' }] });
    const report = renderDrillReport(record, { requester: { id: 'U0ALICE001', name: 'alice', via: 'slack' }, approvals: [] }, [{ at: NOW, actor: { id: 'U0ALICE001', name: 'alice <x>', via: 'slack' }, action: 'requested', detail: 'a | b' }]);
    expect(report).toContain('# Drill report: \\# \\<img src=x onerror=alert(1)\\>');
    expect(report).toContain('| 1 | `restore` | Restore \\| \\`all\\` | failed | — | — |');
    expect(report).toContain('- `restore` failed: \\<b\\>boom\\</b\\> \\| x \\|');
    expect(report).toContain('- 2026-12-07 10:30:00 UTC: alice \\<x\\> (slack): requested: a \\| b');
    // Every < is escaped: no tag is left for a renderer.
    expect(report).not.toMatch(/(^|[^\\])<(img|b)/);
  });
});

describe('drill: true in a runbook', () => {
  const registry = buildRegistry();
  const runbook = (extra: string) => `id: d\ntitle: A drill\n${extra}approval: { required: 0 }\nsteps:\n  - { id: w, use: wait, with: { seconds: 1 } }\n`;

  it('needs a scenario: refused at load with the line, what is wrong and how to write it', () => {
    const { runbook: loaded, problems } = parseRunbook(runbook('drill: true\n'), 'commands/d.yaml', registry);
    expect(loaded).toBeUndefined();
    expect(problems).toEqual([
      "commands/d.yaml:3: drill: a drill is scored against its scenario's RTO and RPO: add `scenario:` (one of single-az-failure, region-outage, data-corruption, security-breach, accidental-deletion, complete-infrastructure-loss), or remove `drill: true`",
    ]);
    expect(parseRunbook(runbook('drill: true\nscenario: data-corruption\n'), 'commands/d.yaml', registry).runbook?.drill).toBe(true);
    expect(parseRunbook(runbook('drill: yes-please\nscenario: data-corruption\n'), 'commands/d.yaml', registry).problems[0]).toContain('drill:');
  });
});

describe('/dr drills', () => {
  it('takes nothing or a scenario; a wrong one is refused with the closest and every scenario', () => {
    expect(parseDrCommand('drills')).toEqual({ name: 'drills' });
    expect(parseDrCommand('drills Data-Corruption')).toEqual({ name: 'drills', scenario: 'data-corruption' });
    expect(() => parseDrCommand('drills data-corruptoin')).toThrow(
      '`drills` takes a scenario of the DR plan, not `data-corruptoin` (did you mean `data-corruption`?); scenarios: single-az-failure, region-outage, data-corruption, security-breach, accidental-deletion, complete-infrastructure-loss. Usage: `/dr drills [<scenario>]`',
    );
    expect(() => parseDrCommand('drills data-corruption region-outage')).toThrow('`drills` takes at most one scenario.');
  });

  it('stored results read back as written', () => {
    const r = resultOf(drillRecord('data-corruption', NOW));
    expect(DrillResultSchema.parse(JSON.parse(JSON.stringify(r)))).toEqual(r);
    expect(Object.keys(r)).not.toContain('steps');
  });
});
