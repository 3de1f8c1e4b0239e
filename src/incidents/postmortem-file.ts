/**
 * The post-mortem as a document: it outgrows a Slack message at ordinary
 * sizes (a timeline of 15 entries), so it is uploaded as a Markdown file and
 * shared in the incident channel with a short message.
 *
 * Upload: files.getUploadURLExternal → POST the bytes to the URL it gives →
 * files.completeUploadExternal with the channel (scope files:write). A file
 * share carries no message metadata, so its unique file name is the key a
 * retry looks for in the channel before uploading again.
 */
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { isPermanentRefusal, slackErrorCode } from '../slack/errors.ts';
import type { IncidentStore } from './store.ts';

const UploadUrlSchema = z.object({ upload_url: z.url(), file_id: z.string().min(1) });
const HistoryFilesSchema = z.object({
  messages: z.array(z.object({ files: z.array(z.object({ name: z.string().optional() })).optional() })).default([]),
});

export interface SharePostmortem {
  slack: WebClient;
  store: IncidentStore;
  incidentId: string;
  channel: string;
  title: string;
  /** The post-mortem as the template renders it (Slack mrkdwn). */
  text: string;
  /** The short message that comes with the file. */
  comment: string;
}

/** Shares the post-mortem file in the channel once, even across a crash between upload and record. */
export async function sharePostmortemOnce(p: SharePostmortem): Promise<void> {
  const done = 'posted:postmortem';
  if (await p.store.isDone(p.incidentId, done)) return;
  const filename = `postmortem-${p.incidentId}.md`;
  if ((await p.store.isDone(p.incidentId, 'attempt:postmortem')) && (await sharedInChannel(p.slack, p.channel, filename))) {
    await p.store.markDone(p.incidentId, done);
    return;
  }
  await p.store.markDone(p.incidentId, 'attempt:postmortem');
  const body = Buffer.from(toMarkdown(p.text), 'utf8');
  const target = UploadUrlSchema.parse(await p.slack.files.getUploadURLExternal({ filename, length: body.length }));
  const uploaded = await fetch(target.upload_url, { method: 'POST', body, headers: { 'content-type': 'text/markdown; charset=utf-8' }, signal: AbortSignal.timeout(30_000) });
  if (!uploaded.ok) throw new Error(`uploading the post-mortem file answered HTTP ${String(uploaded.status)}`);
  await p.slack.files.completeUploadExternal({ files: [{ id: target.file_id, title: p.title }], channel_id: p.channel, initial_comment: p.comment });
  await p.store.markDone(p.incidentId, done);
}

async function sharedInChannel(slack: WebClient, channel: string, filename: string): Promise<boolean> {
  let answer: unknown;
  try {
    answer = await slack.conversations.history({ channel, limit: 50 });
  } catch (err) {
    // Without the history scopes (missing_scope) a rare second copy beats a post-mortem that never comes.
    if (isPermanentRefusal(slackErrorCode(err))) return false;
    throw err;
  }
  const history = HistoryFilesSchema.parse(answer);
  return history.messages.some((m) => m.files?.some((f) => f.name === filename) ?? false);
}

/**
 * Slack mrkdwn to Markdown, enough for the template: a line that is all bold
 * is a heading, `*bold*` becomes `**bold**`, `_x_` stays emphasis.
 */
export function toMarkdown(mrkdwn: string): string {
  return mrkdwn
    .split('\n')
    .map((line, i) => {
      const heading = /^(?::\w+: )?\*([^*]+)\*(.*)$/.exec(line);
      if (heading && (i === 0 || heading[2] === '')) return `${i === 0 ? '#' : '##'} ${heading[1] ?? ''}${heading[2] ?? ''}`;
      return line.replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s.,;:)]|$)/g, '$1**$2**');
    })
    .join('\n');
}
