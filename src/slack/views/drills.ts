import { SCENARIO_IDS, SCENARIOS, type ScenarioId } from '../../incidents/scenarios.ts';
import type { DrillResult } from '../../drills/model.ts';
import { rpoText, rtoText, type ScenarioTrend, TREND_SHOWN, trendsOf, trendText } from '../../drills/trend.ts';
import { formatDuration } from '../../util/duration.ts';
import { plural } from '../../util/text.ts';
import { fitBlocks, linesWithin, MESSAGE_BLOCK_TEXT_BUDGET, MESSAGE_LIMITS, packLines } from '../limits.ts';
import { type Block, context, escapeMrkdwn, header, section, type SlackMessage, truncate } from './message.ts';
import { whenText } from './readiness.ts';

/**
 * The drill record in Slack (pure): `/dr drills [scenario]`, the App Home's
 * last result per scenario, and the message that comes with a drill's report
 * file. Trends describe the estate, like readiness: they count every drill;
 * the list shows a private channel's drills only in that channel.
 */

const PASSED = ':white_check_mark:';
const FAILED = ':x:';
const REASONS_LIMIT = 300;
const TITLE_LIMIT = 120;
/** Drills listed at most; the rest are counted. */
const LISTED = 25;
/** Room for the list's header, trends' heading and footer. */
const FRAME_ROOM = 700;

const mark = (d: Pick<DrillResult, 'passed'>) => (d.passed ? PASSED : FAILED);
const cut = (text: string, limit: number) => truncate(text, limit, '…');

/** One drill: when, runbook and run, scenario, pass/fail, RTO and RPO against the objectives, and why it failed. */
export function drillLine(d: DrillResult, options: { runId?: boolean } = {}): string {
  const run = options.runId === false ? '' : ` \`${d.runId}\``;
  const head = `${mark(d)} ${whenText(d.startedAt)} · *${escapeMrkdwn(cut(d.runbookTitle, TITLE_LIMIT))}*${run} · ${escapeMrkdwn(d.scenarioTitle)} · ${rtoText(d)} · ${rpoText(d)}`;
  return d.passed ? head : `${head}\n      _Why:_ ${escapeMrkdwn(cut(d.reasons.join('; '), REASONS_LIMIT))}`;
}

/** One scenario's trend: its last result, the last five RTOs with their arrow, how many of the last five passed. */
export function trendLine(t: ScenarioTrend): string {
  return `${mark(t.last)} *${escapeMrkdwn(t.title)}* — last ${t.last.passed ? 'passed' : 'failed'} ${whenText(t.last.startedAt)} · ${trendText(t)} · objective ${formatDuration(t.rtoObjectiveMs)} · ${t.passedOfLast} of the last ${plural(t.lastCount, 'drill')} passed`;
}

export interface DrillsView {
  /** Drills this conversation may see, newest first. */
  listed: readonly DrillResult[];
  /** Every drill (of the scenario asked for), for the trends. */
  all: readonly DrillResult[];
  now: number;
  slash: string;
  scenario?: ScenarioId;
}

/** `/dr drills [scenario]`: the recorded drills newest first, and the trend per scenario. */
export function renderDrills(v: DrillsView): SlackMessage {
  const title = v.scenario ? `Drills: ${SCENARIOS[v.scenario].title}` : 'Drills';
  const footer = context(
    `Newest first; 2 years are kept, at most 200 drills per scenario. Trend: the achieved RTOs of the last ${TREND_SHOWN} drills that recovered, oldest first; the arrow compares the newest with the median of the ones before it (within 5%: steady).${v.scenario ? '' : ` One scenario: \`${v.slash} drills <scenario>\`.`}`,
  );
  if (v.all.length === 0) {
    const none = v.scenario
      ? `No drill of ${SCENARIOS[v.scenario].title} has been recorded (the last 2 years are kept).`
      : `No drill has been recorded yet. Each run of a runbook with \`drill: true\` that ends is recorded: \`${v.slash} drill\` runs the quarterly one.`;
    return { text: none, blocks: [header(title), section(`:information_source: ${none}`), footer] };
  }
  const trends = trendsOf(v.all);
  const trendText = ['*Trend per scenario*', ...trends.map(trendLine)];
  const budget = MESSAGE_BLOCK_TEXT_BUDGET - FRAME_ROOM - trendText.join('\n').length;
  const lines = v.listed.slice(0, LISTED).map((d) => drillLine(d));
  const { kept, omitted } = linesWithin(lines, Math.max(0, budget));
  const more = omitted + Math.max(0, v.listed.length - LISTED);
  const list = v.listed.length === 0 ? ['_None of them was run in this conversation; the trend counts them all._'] : [...kept, ...(more ? [`_… and ${plural(more, 'older drill')}_`] : [])];
  const failing = trends.filter((t) => !t.last.passed).length;
  const blocks: Block[] = [header(title), ...packLines(trendText).map((t) => section(t)), ...packLines(['*Drills*, newest first', ...list]).map((t) => section(t)), footer];
  return { text: `${title}: ${plural(v.all.length, 'drill')} recorded${failing ? `; the last drill of ${plural(failing, 'scenario')} failed` : ''}`, blocks: fitBlocks(blocks, MESSAGE_LIMITS) };
}

/** The App Home's "Drills": the last result per scenario (no run ids: the App Home is no channel), and the scenarios never drilled. */
export function drillsHomeBlocks(latest: readonly DrillResult[], now: number, slash: string): Block[] {
  const lines = latest.map((d) => `${mark(d)} *${escapeMrkdwn(d.scenarioTitle)}* — ${d.passed ? 'passed' : 'failed'} ${whenText(d.startedAt)} (${formatDuration(Math.max(0, now - d.startedAt))} ago) · ${rtoText(d)} · ${rpoText(d)}`);
  const never = SCENARIO_IDS.filter((s) => !latest.some((d) => d.scenario === s)).map((s) => SCENARIOS[s].title);
  if (lines.length === 0) return [section(`*Drills*\nNo drill recorded yet. \`${slash} drill\` runs the quarterly one; \`${slash} drills\` lists them.`)];
  return packLines(['*Drills* (the last result per scenario)', ...lines, ...(never.length ? [`_Never drilled:_ ${never.join(', ')}`] : [])]).map((t) => section(t));
}

/** The message that comes with a drill's report file in the run's channel. */
export function drillReportComment(d: DrillResult): string {
  const verdict = d.passed ? `${PASSED} Drill *${escapeMrkdwn(d.runbookTitle)}* passed` : `${FAILED} Drill *${escapeMrkdwn(d.runbookTitle)}* failed`;
  const why = d.passed ? '' : ` ${escapeMrkdwn(cut(d.reasons.join('; '), REASONS_LIMIT))}.`;
  return `${verdict} (\`${d.runId}\`, ${escapeMrkdwn(d.scenarioTitle)}): ${rtoText(d)}; ${rpoText(d)}.${why} The report (timeline, each step and its duration, RTO and RPO against the objectives) is attached.`;
}
