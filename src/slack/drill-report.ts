import type { WebClient } from '@slack/web-api';
import type { ShareDrillReport } from '../drills/follower.ts';
import { drillReportFilename, renderDrillReport } from '../drills/report.ts';
import type { DrillStore } from '../drills/store.ts';
import type { Logger } from '../log/logger.ts';
import { scenarioTargets } from '../incidents/scenarios.ts';
import { renderRecoveryAppendix } from '../reports/markdown.ts';
import { buildRecoveryReport } from '../reports/recovery.ts';
import { slackErrorCode } from './errors.ts';
import { shareFileOnce } from './file-once.ts';
import { drillReportComment } from './views/drills.ts';

/** Refusals about the channel itself: the report can never go there, however often it is tried. */
const CHANNEL_GONE = new Set(['channel_not_found', 'not_in_channel', 'is_archived']);

export interface DrillReporterOptions {
  slack: WebClient;
  store: Pick<DrillStore, 'reportMark' | 'setReportMark'>;
  logger: Logger;
}

/**
 * A drill's one file: its drill report, then the recovery record every
 * changing run's report has (the plan as approved, approvals, what changed,
 * the recovery time from the request to the health check), measured against
 * the objectives the drill was scored with (docs/reports.md).
 */
export function drillReportContent({ drill, run, audit }: Parameters<ShareDrillReport>[0]): string {
  const objectives = scenarioTargets({ [drill.scenario]: { rtoMs: drill.rtoObjectiveMs, rpoMs: drill.rpoObjectiveMs } });
  const recovery = buildRecoveryReport(run, audit, { objectives, now: drill.recordedAt });
  return `${renderDrillReport(drill, run, audit)}\n${renderRecoveryAppendix(recovery)}`;
}

/**
 * Shares a drill's report file (Markdown) in the run's channel, once across
 * crashes (file-once.ts; the follower's lease keeps a second process out).
 * A drill run from the terminal has no channel: its report is not shared
 * (`npm run dr -- drills` and the record have its numbers). A channel the bot
 * can no longer post in is given up with a warning.
 */
export function createDrillReporter(o: DrillReporterOptions): ShareDrillReport {
  return async ({ drill, run, audit }) => {
    const channel = drill.channelId;
    if (!channel) {
      o.logger.info({ runId: drill.runId }, 'the drill has no channel (run from the terminal): its report file is not shared');
      return;
    }
    try {
      const fileId = await shareFileOnce(
        o.slack,
        {
          attempted: async () => (await o.store.reportMark(drill.runId, 'attempted')) !== undefined,
          markAttempted: () => o.store.setReportMark(drill.runId, 'attempted', String(Date.now())),
        },
        {
          channel,
          filename: drillReportFilename(drill.runId),
          title: `Drill report: ${drill.runbookTitle} (${drill.runId})`,
          content: drillReportContent({ drill, run, audit }),
          contentType: 'text/markdown; charset=utf-8',
          comment: drillReportComment(drill),
        },
      );
      if (fileId) await o.store.setReportMark(drill.runId, 'file', fileId);
    } catch (err) {
      const code = slackErrorCode(err);
      if (!code || !CHANNEL_GONE.has(code)) throw err;
      o.logger.warn({ runId: drill.runId, channel, slackError: code }, 'the drill report cannot be shared in the run\'s channel; given up (the drill stays recorded)');
    }
  };
}
