/**
 * A loopback Slack: the Web API (`POST /api/<method>`, form or JSON bodies,
 * `Authorization: Bearer`) and the `response_url` endpoints of slash commands.
 * It records every call with its arguments, keeps messages, answers the way
 * Slack does (`{ok:true,…}` / `{ok:false,error}`, HTTP 429 with Retry-After),
 * and fails on demand.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Loopback, readBody, startLoopback } from './loopback.ts';
import { checkMessage } from './slack-limits.ts';

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  token: string | undefined;
  at: number;
  /** What the fake answered (e.g. the `ts` of a posted message). */
  result?: Record<string, unknown>;
}

export interface RecordedResponse {
  id: string;
  body: Record<string, unknown>;
  at: number;
}

export type Failure =
  | { status: 429; retryAfter: number }
  | { status: 500 | 502 | 503 }
  | { error: string }
  | { delayMs: number };

interface Channel {
  isPrivate: boolean;
  botIsMember: boolean;
  archived: boolean;
  /** A channel (public or private), a DM (`im`) or a group DM (`mpim`); ids starting with D are DMs unless set. */
  kind: 'channel' | 'im' | 'mpim';
}

export interface StoredMessage {
  channel: string;
  ts: string;
  text: unknown;
  blocks: unknown;
  threadTs?: string;
  /** chat.postMessage `metadata` ({event_type, event_payload}), returned by conversations.history with include_all_metadata. */
  metadata?: Record<string, unknown>;
  /** Files shared with the message (files.completeUploadExternal with channel_id). */
  files?: FakeFile[];
}

/** A file uploaded with files.getUploadURLExternal + upload + files.completeUploadExternal. */
export interface FakeFile {
  id: string;
  name: string;
  title: string;
  permalink: string;
  content: string;
}

export const FAKE_TEAM_ID = 'T0FAKE0001';
export const FAKE_APP_ID = 'A0DRCHATOP';

/** A user as `users.info` returns it (the fields the bot reads). */
export interface FakeUser {
  id: string;
  name: string;
  team_id: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  enterprise_user?: { enterprise_id: string };
}

/** The people the tests act as: full members of the fake workspace. */
export const TEST_MEMBERS = ['U0ALICE001', 'U0BOB00001', 'U0CAROL001', 'U0DAVE0001', 'U0APPROVER1', 'U0APPROVER2', 'U0APPROVE1', 'U0ADMIN01', 'U0ONCALL01', 'U0BENCH001', 'U0BENCH002'];
export const FAKE_BOT_USER_ID = 'U0DRBOT001';
export const FAKE_BOT_ID = 'B0DRBOT001';

export class FakeSlack {
  readonly calls: RecordedCall[] = [];
  readonly responses: RecordedResponse[] = [];
  readonly messages = new Map<string, StoredMessage>();
  private readonly channels = new Map<string, Channel>();
  /** Channels the bot created (conversations.create), with their members. */
  readonly createdChannels = new Map<string, { name: string; members: string[] }>();
  readonly pins = new Set<string>();
  /** Modals opened with views.open, newest last, with the view id Slack gave each. */
  readonly openedViews: { id: string; triggerId: string; view: Record<string, unknown> }[] = [];
  private readonly usedTriggers = new Set<string>();
  /** The workspace's users, for `users.info`; unknown ids are `user_not_found`, as in Slack. */
  readonly users = new Map<string, FakeUser>();
  /** User groups by handle: id and member user ids. */
  readonly userGroups = new Map<string, { id: string; users: string[] }>();
  private readonly failures = new Map<string, Failure[]>();
  /** Files by id: announced by files.getUploadURLExternal, content by the upload, complete once completed. */
  readonly files = new Map<string, FakeFile & { length: number; uploaded: boolean; completed: boolean }>();
  private readonly validTokens: Set<string>;
  private loopback: Loopback | undefined;
  private tsCounter = 0;
  private waiters: (() => void)[] = [];

  /** Socket Mode: connections opened by `apps.connections.open` tickets, and acks awaited by envelope id. */
  private readonly sockets = new WebSocketServer({ noServer: true });
  private readonly socketClients = new Set<WebSocket>();
  private readonly pendingAcks = new Map<string, (payload: Record<string, unknown>) => void>();

  constructor(validTokens: readonly string[]) {
    this.validTokens = new Set(validTokens);
    for (const id of TEST_MEMBERS) this.addUser(id);
    this.addUser(FAKE_BOT_USER_ID, { name: 'dr-chatops', is_bot: true });
  }

  /** Adds (or changes) a user: a full member of the fake workspace unless told otherwise. */
  addUser(id: string, fields: Partial<Omit<FakeUser, 'id'>> = {}): void {
    this.users.set(id, { id, name: id.toLowerCase(), team_id: FAKE_TEAM_ID, ...fields });
  }

  async start(): Promise<this> {
    this.loopback = await startLoopback((req, res) => this.handle(req, res));
    this.loopback.server.on('upgrade', (req, socket, head) => {
      this.sockets.handleUpgrade(req, socket, head, (ws) => {
        this.socketClients.add(ws);
        ws.on('close', () => this.socketClients.delete(ws));
        ws.on('message', (data: Buffer) => {
          const msg = parseJson(data.toString('utf8'));
          const id = typeof msg.envelope_id === 'string' ? msg.envelope_id : '';
          this.pendingAcks.get(id)?.(isRecord(msg.payload) ? msg.payload : {});
          this.pendingAcks.delete(id);
        });
        ws.send(JSON.stringify({ type: 'hello', num_connections: this.socketClients.size, connection_info: { app_id: 'A0DRCHATOP' } }));
        this.notify();
      });
    });
    return this;
  }

  /** How many Socket Mode connections are open. */
  get socketConnections(): number {
    return this.socketClients.size;
  }

  /**
   * Delivers an envelope over Socket Mode, as Slack does, and resolves with the
   * payload the app acknowledged it with.
   */
  async sendSocketEnvelope(type: string, payload: Record<string, unknown>, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const [client] = this.socketClients;
    if (!client) throw new Error('no Socket Mode connection is open');
    const envelopeId = randomUUID();
    const acked = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`envelope ${type} not acknowledged within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
    client.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: true }));
    return acked;
  }

  /** Sends a WebSocket message as it is (not an envelope) on the Socket Mode connection: malformed-input tests. */
  sendSocketRaw(text: string): void {
    const [client] = this.socketClients;
    if (!client) throw new Error('no Socket Mode connection is open');
    client.send(text);
  }

  async stop(): Promise<void> {
    for (const ws of this.socketClients) ws.terminate();
    this.sockets.close();
    await this.loopback?.stop();
  }

  /** Base URL for `SLACK_API_URL`. */
  get apiUrl(): string {
    return `${this.loopback?.url ?? ''}/api/`;
  }

  responseUrl(id: string): string {
    return `${this.loopback?.url ?? ''}/respond/${id}`;
  }

  /** A private channel, DM or group DM the bot is (or is not) a member of; unknown ids are public channels, or DMs with the bot when they start with D. */
  setChannel(id: string, channel: Partial<Channel>): void {
    const kind = channel.kind ?? (id.startsWith('D') ? 'im' : 'channel');
    this.channels.set(id, { isPrivate: kind !== 'channel', botIsMember: true, archived: false, kind, ...channel });
  }

  /** The next `times` calls to `method` fail this way, in order. */
  failNext(method: string, failure: Failure, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(failure);
    this.failures.set(method, queue);
  }

  /** The latest text and blocks of a message, as a reader in the channel sees it. */
  messageAt(ts: string): StoredMessage | undefined {
    return this.messages.get(ts);
  }

  /** Messages posted in a thread. */
  replies(threadTs: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.threadTs === threadTs);
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves once `predicate` holds, checking after every recorded call. */
  async waitFor<T>(predicate: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`FakeSlack.waitFor timed out after ${timeoutMs} ms; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');

    if (url.pathname.startsWith('/respond/')) {
      // Slack refuses a response_url message it would refuse in chat.postMessage: HTTP 400 with the error as text.
      const body = parseJson(raw);
      const refusal = body.delete_original === true ? undefined : checkMessage(body).error;
      if (refusal) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(refusal);
        return;
      }
      this.responses.push({ id: url.pathname.slice('/respond/'.length), body: parseJson(raw), at: Date.now() });
      this.notify();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (url.pathname.startsWith('/upload/') && req.method === 'POST') {
      // The upload URL files.getUploadURLExternal gave: the file's bytes, as they are.
      const file = this.files.get(url.pathname.slice('/upload/'.length));
      if (!file || file.completed) {
        res.writeHead(404).end();
        return;
      }
      file.content = raw;
      file.uploaded = true;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${String(Buffer.byteLength(raw))}`);
      return;
    }
    if (!url.pathname.startsWith('/api/') || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }

    const method = url.pathname.slice('/api/'.length);
    const args = parseArgs(raw, req.headers['content-type']);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? (typeof args.token === 'string' ? args.token : undefined);
    delete args.token;
    const call: RecordedCall = { method, args, token, at: Date.now() };
    this.calls.push(call);
    this.notify();

    const failure = this.failures.get(method)?.shift();
    if (failure && 'delayMs' in failure) await new Promise((r) => setTimeout(r, failure.delayMs));
    else if (failure && 'status' in failure) {
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
      if (failure.status === 429) headers['retry-after'] = String(failure.retryAfter);
      res.writeHead(failure.status, headers).end(JSON.stringify({ ok: false, error: failure.status === 429 ? 'ratelimited' : 'internal_error' }));
      return;
    } else if (failure) {
      send(res, { ok: false, error: failure.error });
      return;
    }

    if (!token) send(res, { ok: false, error: 'not_authed' });
    else if (!this.validTokens.has(token)) send(res, { ok: false, error: 'invalid_auth' });
    else {
      call.result = this.answer(method, args);
      send(res, call.result);
    }
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'Fake Team',
          user: 'dr-chatops',
          team_id: FAKE_TEAM_ID,
          user_id: FAKE_BOT_USER_ID,
          bot_id: FAKE_BOT_ID,
          is_enterprise_install: false,
        };
      case 'conversations.create': {
        const name = text(args.name);
        if (!/^[a-z0-9_-]{1,80}$/.test(name)) return { ok: false, error: 'invalid_name_specials' };
        if ([...this.createdChannels.values()].some((c) => c.name === name)) return { ok: false, error: 'name_taken' };
        const id = `C0NEW${String(this.createdChannels.size + 1).padStart(5, '0')}`;
        this.createdChannels.set(id, { name, members: [FAKE_BOT_USER_ID] });
        return { ok: true, channel: { id, name, is_channel: true } };
      }
      case 'bots.info': {
        if (args.bot !== FAKE_BOT_ID) return { ok: false, error: 'bot_not_found' };
        return { ok: true, bot: { id: FAKE_BOT_ID, app_id: FAKE_APP_ID, user_id: FAKE_BOT_USER_ID, name: 'dr-chatops', deleted: false } };
      }
      case 'users.info': {
        const user = this.users.get(text(args.user));
        return user ? { ok: true, user } : { ok: false, error: 'user_not_found' };
      }
      case 'conversations.info': {
        const id = text(args.channel);
        if (!id) return { ok: false, error: 'channel_not_found' };
        const known = this.channels.get(id);
        if (known?.isPrivate && !known.botIsMember) return { ok: false, error: 'channel_not_found' };
        const kind = known?.kind ?? (id.startsWith('D') ? 'im' : 'channel');
        // As Slack describes each: a DM has no name and names the other person; a group DM is private and not a channel.
        if (kind === 'im') return { ok: true, channel: { id, created: 1764000000, is_im: true, is_org_shared: false, user: 'U0ALICE001', is_user_deleted: false } };
        if (kind === 'mpim') return { ok: true, channel: { id, name: `mpdm-${id.toLowerCase()}-1`, is_channel: false, is_group: false, is_im: false, is_mpim: true, is_private: true, is_member: true } };
        const created = this.createdChannels.get(id);
        return { ok: true, channel: { id, name: created?.name ?? id.toLowerCase(), is_channel: true, is_im: false, is_mpim: false, is_private: known?.isPrivate ?? false, is_member: known?.botIsMember ?? true } };
      }
      case 'conversations.members': {
        const created = this.createdChannels.get(text(args.channel));
        if (!created) return { ok: false, error: 'channel_not_found' };
        return { ok: true, members: [...created.members], response_metadata: { next_cursor: '' } };
      }
      case 'conversations.list':
        return { ok: true, channels: [...this.createdChannels.entries()].map(([id, c]) => ({ id, name: c.name })), response_metadata: { next_cursor: '' } };
      case 'conversations.invite': {
        const channel = this.createdChannels.get(text(args.channel));
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const users = text(args.users).split(',').filter(Boolean);
        if (users.every((u) => channel.members.includes(u))) return { ok: false, error: 'already_in_channel' };
        channel.members.push(...users.filter((u) => !channel.members.includes(u)));
        return { ok: true, channel: { id: text(args.channel) } };
      }
      case 'pins.add': {
        const message = this.messages.get(text(args.timestamp));
        if (!message) return { ok: false, error: 'message_not_found' };
        if (this.pins.has(text(args.timestamp))) return { ok: false, error: 'already_pinned' };
        this.pins.add(text(args.timestamp));
        return { ok: true };
      }
      case 'views.open': {
        // A trigger id is good once (and for 3 s, which the tests' fresh ids always are).
        const trigger = text(args.trigger_id);
        if (!trigger) return { ok: false, error: 'invalid_arguments' };
        if (this.usedTriggers.has(trigger)) return { ok: false, error: 'exchanged_trigger_id' };
        const view = typeof args.view === 'string' ? parseJson(args.view) : isRecord(args.view) ? args.view : undefined;
        const problem = view ? invalidModal(view) : 'invalid_arguments';
        if (problem || !view) return { ok: false, error: problem ?? 'invalid_arguments' };
        this.usedTriggers.add(trigger);
        const id = `V0MODAL${String(this.openedViews.length + 1).padStart(4, '0')}`;
        this.openedViews.push({ id, triggerId: trigger, view });
        return { ok: true, view: { id, ...view } };
      }
      case 'views.publish':
        return typeof args.user_id === 'string' && typeof args.view === 'object' ? { ok: true, view: { id: 'V0HOME', ...(args.view as object) } } : { ok: false, error: 'invalid_arguments' };
      case 'usergroups.list':
        return { ok: true, usergroups: [...this.userGroups.entries()].map(([handle, g]) => ({ id: g.id, handle, name: handle })) };
      case 'usergroups.users.list': {
        const group = [...this.userGroups.values()].find((g) => g.id === args.usergroup);
        return group ? { ok: true, users: group.users } : { ok: false, error: 'no_such_subteam' };
      }
      case 'apps.connections.open':
        return { ok: true, url: `ws://127.0.0.1:${String(this.loopback?.port)}/link/?ticket=${randomUUID()}` };
      case 'chat.postMessage': {
        const channel = text(args.channel);
        const problem = this.cannotPost(channel) ?? invalidMessage(args);
        if (problem) return { ok: false, error: problem };
        const ts = this.nextTs();
        const message: StoredMessage = { channel, ts, text: args.text, blocks: args.blocks };
        if (typeof args.thread_ts === 'string') message.threadTs = args.thread_ts;
        if (isRecord(args.metadata)) message.metadata = args.metadata;
        this.messages.set(ts, message);
        return { ok: true, channel, ts, message: { type: 'message', user: FAKE_BOT_USER_ID, text: args.text, ts } };
      }
      case 'conversations.history': {
        // Top-level messages, newest first; metadata only when asked for (include_all_metadata), as Slack does.
        const channel = text(args.channel);
        const known = this.channels.get(channel);
        if (!channel || (known?.isPrivate && !known.botIsMember)) return { ok: false, error: 'channel_not_found' };
        const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
        const limit = Math.min(Number(args.limit) || 100, 999);
        const messages = [...this.messages.values()]
          .filter((m) => m.channel === channel && m.threadTs === undefined)
          .reverse()
          .slice(0, limit)
          .map((m) => ({
            type: 'message',
            user: FAKE_BOT_USER_ID,
            ts: m.ts,
            text: m.text,
            ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
            ...(m.files ? { files: m.files.map((f) => ({ id: f.id, name: f.name, title: f.title, permalink: f.permalink })) } : {}),
          }));
        return { ok: true, messages, has_more: false };
      }
      case 'conversations.replies': {
        // The thread's parent first, then its replies, oldest first; metadata only when asked for.
        const channel = text(args.channel);
        const parent = text(args.ts);
        const known = this.channels.get(channel);
        if (!channel || (known?.isPrivate && !known.botIsMember)) return { ok: false, error: 'channel_not_found' };
        const root = this.messages.get(parent);
        if (!root || root.channel !== channel) return { ok: false, error: 'thread_not_found' };
        const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
        const messages = [root, ...[...this.messages.values()].filter((m) => m.channel === channel && m.threadTs === parent)].map((m) => ({
          type: 'message',
          user: FAKE_BOT_USER_ID,
          ts: m.ts,
          text: m.text,
          ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
          ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
        }));
        return { ok: true, messages, has_more: false };
      }
      case 'files.getUploadURLExternal': {
        const name = text(args.filename);
        const length = Number(args.length);
        if (!name || !Number.isInteger(length) || length <= 0) return { ok: false, error: 'invalid_arguments' };
        const id = `F0FILE${String(this.files.size + 1).padStart(5, '0')}`;
        this.files.set(id, { id, name, title: name, permalink: `https://fake.slack.com/files/${FAKE_BOT_USER_ID}/${id}/${name}`, content: '', length, uploaded: false, completed: false });
        return { ok: true, upload_url: `${this.loopback?.url ?? ''}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal': {
        const list = typeof args.files === 'string' ? parseJsonValue(args.files) : args.files;
        if (!Array.isArray(list) || list.length === 0) return { ok: false, error: 'invalid_arguments' };
        const done: FakeFile[] = [];
        for (const entry of list as unknown[]) {
          const file = isRecord(entry) ? this.files.get(text(entry.id)) : undefined;
          if (!file || !file.uploaded || file.completed) return { ok: false, error: 'file_not_found' };
          file.completed = true;
          if (isRecord(entry) && typeof entry.title === 'string') file.title = entry.title;
          done.push(file);
        }
        const channel = text(args.channel_id);
        if (channel) {
          const problem = this.cannotPost(channel);
          if (problem) return { ok: false, error: problem };
          const ts = this.nextTs();
          const message: StoredMessage = { channel, ts, text: text(args.initial_comment), blocks: undefined, files: done };
          if (typeof args.thread_ts === 'string') message.threadTs = args.thread_ts;
          this.messages.set(ts, message);
        }
        return { ok: true, files: done.map((f) => ({ id: f.id, name: f.name, title: f.title, permalink: f.permalink })) };
      }
      case 'chat.update': {
        const ts = text(args.ts);
        const existing = this.messages.get(ts);
        if (!existing || existing.channel !== args.channel) return { ok: false, error: 'message_not_found' };
        const problem = invalidMessage(args);
        if (problem) return { ok: false, error: problem };
        existing.text = args.text;
        existing.blocks = args.blocks;
        return { ok: true, channel: existing.channel, ts, text: args.text };
      }
      case 'chat.getPermalink': {
        // Slack's own answer for a message it has; message_not_found for one it has not (deleted, another channel).
        const ts = text(args.message_ts);
        const existing = this.messages.get(ts);
        if (!existing || existing.channel !== args.channel) return { ok: false, error: args.channel ? 'message_not_found' : 'channel_not_found' };
        return { ok: true, channel: existing.channel, permalink: `https://fake.slack.com/archives/${existing.channel}/p${ts.replace('.', '')}` };
      }
      case 'chat.postEphemeral': {
        const channel = text(args.channel);
        const problem = this.cannotPost(channel) ?? invalidMessage(args);
        if (problem) return { ok: false, error: problem };
        return { ok: true, message_ts: this.nextTs() };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private cannotPost(channel: string): string | undefined {
    if (!channel) return 'channel_not_found';
    const known = this.channels.get(channel);
    if (!known) return undefined;
    if (known.archived) return 'is_archived';
    if (known.isPrivate && !known.botIsMember) return 'channel_not_found';
    if (!known.botIsMember) return 'not_in_channel';
    return undefined;
  }

  private nextTs(): string {
    this.tsCounter += 1;
    return `1764000000.${String(this.tsCounter).padStart(6, '0')}`;
  }
}

/** Slack's checks on a modal (docs.slack.dev/reference/views/modal-views). */
function invalidModal(view: Record<string, unknown>): string | undefined {
  const plain = (v: unknown, max: number) => isRecord(v) && v.type === 'plain_text' && typeof v.text === 'string' && v.text.length > 0 && v.text.length <= max;
  const blocks = Array.isArray(view.blocks) ? (view.blocks as unknown[]) : undefined;
  if (view.type !== 'modal' || !plain(view.title, 24) || !blocks || blocks.length > 100) return 'invalid_arguments';
  const hasInput = blocks.some((b) => isRecord(b) && b.type === 'input');
  if (hasInput && !plain(view.submit, 24)) return 'invalid_arguments';
  if (view.close !== undefined && !plain(view.close, 24)) return 'invalid_arguments';
  if (typeof view.private_metadata === 'string' && view.private_metadata.length > 3000) return 'invalid_arguments';
  if (typeof view.callback_id === 'string' && view.callback_id.length > 255) return 'invalid_arguments';
  for (const b of blocks) {
    if (!isRecord(b)) return 'invalid_blocks';
    if (b.type === 'input' && (!plain(b.label, 2000) || !isRecord(b.element) || typeof b.block_id !== 'string')) return 'invalid_blocks';
  }
  return undefined;
}

/** Slack's own checks on a message body that the bot must never trip (slack-limits.ts). */
function invalidMessage(args: Record<string, unknown>): string | undefined {
  return checkMessage(args).error;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function send(res: ServerResponse, body: Record<string, unknown>): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function parseJson(raw: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Form fields that hold JSON (blocks, attachments…) are decoded, as Slack does. */
function parseArgs(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (contentType?.includes('application/json')) return parseJson(raw);
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = /^[[{]/.test(value) ? (parseJsonValue(value) ?? value) : value;
  }
  return args;
}

function parseJsonValue(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** What a reader sees of a message: its fallback text and every block's text. */
export function readable(message: { text?: unknown; blocks?: unknown } | undefined): string {
  return `${typeof message?.text === 'string' ? message.text : ''}\n${JSON.stringify(message?.blocks ?? [])}`;
}

/** The id of the channel a `conversations.create` call made ('' when it failed). */
export function createdChannelId(call: RecordedCall): string {
  const channel = call.result?.channel;
  return isRecord(channel) && typeof channel.id === 'string' ? channel.id : '';
}
