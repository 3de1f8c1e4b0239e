/**
 * Sharing a file in a channel once across crashes, as the post-mortem is
 * shared (src/incidents/postmortem-file.ts): files.getUploadURLExternal → POST
 * the bytes to the URL it gives → files.completeUploadExternal with the
 * channel (scope files:write). A file share carries no message metadata, so
 * its unique file name is the key: a retry after an attempt that may have
 * shared it looks for that name in the channel's recent history first.
 * Who may try at all (one process at a time) is the caller's lease.
 */
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { isPermanentRefusal, slackErrorCode } from './errors.ts';

const UploadUrlSchema = z.object({ upload_url: z.url(), file_id: z.string().min(1) });
const HistoryFilesSchema = z.object({
  messages: z.array(z.object({ files: z.array(z.object({ name: z.string().optional() })).optional() })).default([]),
});

/** How far back a retry looks for its file: a crashed attempt is minutes old. */
const HISTORY_LIMIT = 50;

/** Where one file's progress is recorded (the caller's store): it survives a crash. */
export interface FileRecord {
  /** True if an attempt may already have shared it (set just before uploading). */
  attempted(): Promise<boolean>;
  markAttempted(): Promise<void>;
}

export interface FileToShare {
  channel: string;
  /** Unique in the channel: the key a retry looks for. */
  filename: string;
  title: string;
  content: string;
  contentType: string;
  /** The message that comes with the file (mrkdwn, escaped by the caller). */
  comment: string;
}

/** Shares `file` in its channel unless an earlier attempt did; returns the file's id (undefined when an earlier share was found). */
export async function shareFileOnce(slack: WebClient, record: FileRecord, file: FileToShare): Promise<string | undefined> {
  if ((await record.attempted()) && (await sharedInChannel(slack, file.channel, file.filename))) return undefined;
  await record.markAttempted();
  const body = Buffer.from(file.content, 'utf8');
  const target = UploadUrlSchema.parse(await slack.files.getUploadURLExternal({ filename: file.filename, length: body.length }));
  const uploaded = await fetch(target.upload_url, { method: 'POST', body, headers: { 'content-type': file.contentType }, signal: AbortSignal.timeout(30_000) });
  if (!uploaded.ok) throw new Error(`uploading ${file.filename} answered HTTP ${String(uploaded.status)}`);
  await slack.files.completeUploadExternal({ files: [{ id: target.file_id, title: file.title }], channel_id: file.channel, initial_comment: file.comment });
  return target.file_id;
}

async function sharedInChannel(slack: WebClient, channel: string, filename: string): Promise<boolean> {
  let answer: unknown;
  try {
    answer = await slack.conversations.history({ channel, limit: HISTORY_LIMIT });
  } catch (err) {
    // Without the history scopes (missing_scope) a rare second copy beats a file that never comes.
    if (isPermanentRefusal(slackErrorCode(err))) return false;
    throw err;
  }
  return HistoryFilesSchema.parse(answer).messages.some((m) => m.files?.some((f) => f.name === filename) ?? false);
}
