import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.ts';
import type { PostRecoveryReport } from '../reports/follower.ts';
import { recoveryReportFilename, renderRecoveryMarkdown } from '../reports/markdown.ts';
import { slackErrorCode } from './errors.ts';
import { shareFileOnce } from './file-once.ts';
import { recoveryReportComment } from './views/recovery-report.ts';

/** Refusals about the channel itself: the report can never go there, however often it is tried. */
const CHANNEL_GONE = new Set(['channel_not_found', 'not_in_channel', 'is_archived']);

/**
 * Posts a run's recovery report file (Markdown) in the incident's or the
 * run's channel, once across crashes (file-once.ts; the follower's lease
 * keeps a second process out). A run from the terminal has no channel: its
 * report is not posted (`npm run dr -- report <run>` exports it). A channel
 * the bot can no longer post in is given up with a warning.
 */
export function createRecoveryReporter(o: { slack: WebClient; logger: Logger }): PostRecoveryReport {
  return async ({ report, channel, marks }) => {
    if (!channel) {
      o.logger.info({ runId: report.runId }, 'the run has no channel (run from the terminal): its recovery report is not posted');
      return;
    }
    try {
      const fileId = await shareFileOnce(
        o.slack,
        { attempted: async () => (await marks.get('attempted')) !== undefined, markAttempted: () => marks.set('attempted', String(Date.now())) },
        {
          channel,
          filename: recoveryReportFilename(report.runId),
          title: `Recovery report: ${report.runbookTitle} (${report.runId})`,
          content: renderRecoveryMarkdown(report),
          contentType: 'text/markdown; charset=utf-8',
          comment: recoveryReportComment(report),
        },
      );
      if (fileId) await marks.set('file', fileId);
    } catch (err) {
      const code = slackErrorCode(err);
      if (!code || !CHANNEL_GONE.has(code)) throw err;
      o.logger.warn({ runId: report.runId, channel, slackError: code }, 'the recovery report cannot be posted in its channel; given up (`report` still exports it)');
    }
  };
}
