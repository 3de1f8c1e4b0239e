/**
 * A DR scenario end to end, as production runs it: the bot (`node src/main.ts
 * --role bot`) and one worker (`--role worker`) as child processes on real
 * Redis, the shipped commands/, the fake Slack, and the loopback fakes of AWS
 * and Kubernetes. A test drives Slack as people do (signed `/dr …` commands,
 * button clicks) and reads only what the bot posted there: the plan message
 * kept current, its thread, private answers and the recovery report file.
 *
 * What configuring the processes takes (learnt here; see also docs/targets.md):
 * - Both processes get the same environment. The bot plans (each step's plan()
 *   reads AWS and Kubernetes), so it needs the targets as much as the worker.
 * - Targets: `DR_TARGETS` (JSON, the schema of src/targets/config.ts) and
 *   `DR_DEFAULT_TARGET`. Each target's `endpoints` map a service (`rds`,
 *   `ec2`, `arczonalshift`, `eks`, …) to a fake's URL; `rdsEndpoints`
 *   (`{region: url}`) is where RDS of another region is asked (the primary's,
 *   for a switchover): without it a step naming that region is refused in the
 *   plan. `kubernetes: {kubeconfig: fake.writeKubeconfig()}` reaches a fake
 *   cluster through a file both processes read. With no AWS_REGION,
 *   AWS_ENDPOINT_URL*, KUBECONFIG or EKS_CLUSTER_NAME there is no target
 *   `default`, so nothing can fall back to AWS's own endpoints.
 * - AWS credentials: the SDK's default chain, so `AWS_ACCESS_KEY_ID` and
 *   `AWS_SECRET_ACCESS_KEY` in the environment; fakes that check signatures
 *   (EC2, ARC zonal shift) must know that key (`knownSecrets`).
 * - `HTTP_ALLOWED_TARGETS=127.0.0.1`: http.check refuses loopback otherwise.
 * - `DR_APPROVERS`: nobody may approve until it is set; the approvers are
 *   named here, as an operator would.
 * - A person's name in plans and reports is what Slack's users.info answers,
 *   so the fake's users get their names (`alice`, `bob`, `carol`).
 * - PORT and METRICS_PORT 0: each process logs the ports it took in its
 *   `dr-chatops started` line (process.ts startedUrls).
 * - Under vitest the children load the loopback guard (process.ts), so a
 *   request leaving 127.0.0.1 is caught.
 * - What a person sees: the bot posts the plan message (its Approve button
 *   and a gate's Accept carry the run, or `<run>:<gate>`, as their value) and
 *   keeps it current (coalesced: it shows the end a moment after the run's
 *   thread reply); the worker posts the recovery report file
 *   (recovery-<run>.md) in the run's channel once a changing run ends.
 * - A fake's state can change under running processes (a budget relaxed, a
 *   region gone dark); a fake's endpoint cannot: a test that needs a region
 *   to vanish puts a link of its own in front of that fake.
 * Starting the two processes takes a few seconds: a test file starts them
 * once (beforeAll) and resets its fakes between cases.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { BOT_TOKEN } from './bot.ts';
import { FakeSlack, readable, type StoredMessage } from './fake-slack.ts';
import { type BotProcess, spawnBot, startedUrls, stopBot } from './process.ts';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { SIGNING_SECRET, sendBlockAction, sendSlashCommand, type SlackResponse } from './slack-requests.ts';
import { SHIPPED_COMMANDS } from './engine.ts';

export interface Person {
  id: string;
  name: string;
}

export const ALICE: Person = { id: 'U0ALICE001', name: 'alice' };
export const BOB: Person = { id: 'U0BOB00001', name: 'bob' };
export const CAROL: Person = { id: 'U0CAROL001', name: 'carol' };

/** The bot's own AWS key (the SDK reads it from the environment); fakes that check signatures are told it. */
export const AWS_KEY = { accessKeyId: 'AKIAFAKEFAKEFAKE0001', secretAccessKey: 's'.repeat(40) };

export const INCIDENT_CHANNEL = 'C0SCENARIO1';

export interface ScenarioOptions {
  /** DR_TARGETS: target name → target (src/targets/config.ts). */
  targets: Record<string, unknown>;
  defaultTarget: string;
  /** Who may approve (DR_APPROVERS): ids, comma separated. */
  approvers?: Person[];
  env?: Record<string, string>;
}

/** A run as its Slack message shows it. */
export interface RunMessage {
  runId: string;
  channel: string;
  ts: string;
}

export interface RunEnding {
  /** The threaded reply at the end (":large_green_circle: … succeeded in …"). */
  ending: string;
  /** The run message's text and blocks, as a reader sees it once the run ended. */
  message: string;
  /** The recovery report's Markdown (recovery-<run>.md) and the comment posted with it. */
  report: string;
  reportComment: string;
}

/** A plan message names its run: "run `r1a2b3c4`". */
const RUN_NAMED = /run `(r[a-z0-9]{7})`/;
const TERMINAL_REPLY = /(succeeded|failed at|failed:|was cancelled)/;

export class ScenarioProcesses {
  readonly slack: FakeSlack;
  private readonly prefix = uniquePrefix();
  private bot: BotProcess | undefined;
  private worker: BotProcess | undefined;
  private botUrl = '';
  private answers = 0;

  private constructor(slack: FakeSlack) {
    this.slack = slack;
  }

  static async start(options: ScenarioOptions): Promise<ScenarioProcesses> {
    const slack = await new FakeSlack([BOT_TOKEN]).start();
    for (const p of [ALICE, BOB, CAROL]) slack.addUser(p.id, { name: p.name });
    const scenario = new ScenarioProcesses(slack);
    const env: Record<string, string> = {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: scenario.prefix,
      COMMANDS_DIR: SHIPPED_COMMANDS,
      PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      DR_TARGETS: JSON.stringify(options.targets),
      DR_DEFAULT_TARGET: options.defaultTarget,
      AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey,
      // Nothing may look for credentials or a region on the host (instance metadata, ~/.aws).
      AWS_EC2_METADATA_DISABLED: 'true',
      HTTP_ALLOWED_TARGETS: '127.0.0.1',
      DR_APPROVERS: (options.approvers ?? [BOB, CAROL]).map((p) => p.id).join(','),
      SHUTDOWN_TIMEOUT_MS: '2000',
      ...options.env,
    };
    scenario.bot = spawnBot(env, ['--role', 'bot']);
    scenario.worker = spawnBot(env, ['--role', 'worker']);
    try {
      const [bot] = await Promise.all([startedUrls(scenario.bot), scenario.worker.waitForLog(/dr-chatops started/, 30_000)]);
      scenario.botUrl = bot.url;
      // /slack/events answers once the bot has checked its token with Slack (auth.test).
      await scenario.waitForSlackDoor();
    } catch (err) {
      // A file whose start failed has no scenario to stop: nothing is left running.
      await scenario.stop();
      throw err;
    }
    return scenario;
  }

  async stop(): Promise<void> {
    await Promise.all([this.bot, this.worker].filter((p) => p !== undefined).map((p) => stopBot(p)));
    await this.slack.stop();
    await deleteKeys(this.prefix);
  }

  /** Both processes' logs, for a failure's message. */
  logs(): string {
    return `--- bot stdout\n${this.bot?.stdout() ?? ''}\n--- bot stderr\n${this.bot?.stderr() ?? ''}\n--- worker stdout\n${this.worker?.stdout() ?? ''}\n--- worker stderr\n${this.worker?.stderr() ?? ''}`;
  }

  /** `/dr <text>` typed by `who` in `channel`; the acknowledgement Slack shows them. */
  async command(text: string, who: Person = ALICE, channel = INCIDENT_CHANNEL): Promise<{ ack: SlackResponse; responseId: string }> {
    const responseId = `answer-${String(++this.answers)}`;
    const ack = await sendSlashCommand(this.botUrl, { text, user_id: who.id, user_name: who.name, channel_id: channel, response_url: this.slack.responseUrl(responseId) });
    return { ack, responseId };
  }

  /**
   * Requests a run with `/dr <text>` and returns its plan message once posted;
   * a refusal (told privately) fails with what the person was told.
   */
  async request(text: string, who: Person = ALICE, channel = INCIDENT_CHANNEL): Promise<RunMessage> {
    const mark = this.slack.calls.length;
    const { ack, responseId } = await this.command(text, who, channel);
    expect(ack.status).toBe(200);
    expect(String(ack.json?.text)).toContain('Planning');
    const seen = await this.slack.waitFor(() => {
      const refused = this.slack.responses.find((r) => r.id === responseId);
      if (refused) return { refused: String(refused.body.text) };
      // In an incident's channel the bot posts the incident's own messages too: the plan is the one naming a run.
      const plan = this.slack.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && c.args.channel === channel && !c.args.thread_ts && c.result?.ok === true && RUN_NAMED.test(readable(c.args)));
      return plan && { plan };
    }, 20_000);
    if ('refused' in seen) throw new Error(`the request was refused: ${seen.refused}`);
    const runId = RUN_NAMED.exec(readable(seen.plan.args))?.[1];
    if (!runId) throw new Error(`the plan message names no run: ${readable(seen.plan.args)}`);
    return { runId, channel, ts: String(seen.plan.result?.ts) };
  }

  /** The run message now, as a reader in the channel sees it. */
  messageOf(run: RunMessage): string {
    return readable(this.slack.messageAt(run.ts));
  }

  /** Resolves once the run message shows `pattern`. */
  async messageShows(run: RunMessage, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    return this.slack.waitFor(() => pattern.test(this.messageOf(run)) && this.messageOf(run), timeoutMs).catch((err: unknown) => {
      throw new Error(`the run message never showed ${String(pattern)}; it shows:\n${this.messageOf(run)}\n${String(err)}`);
    });
  }

  /** The value of the button `actionId` on the run message now (a gate's buttons name the run and the gate). */
  buttonValue(run: RunMessage, actionId: string): string {
    const blocks = (this.slack.messageAt(run.ts)?.blocks ?? []) as { elements?: { action_id?: string; value?: string }[] }[];
    const button = blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === actionId);
    if (!button?.value) throw new Error(`the run message has no ${actionId} button:\n${this.messageOf(run)}`);
    return button.value;
  }

  /** `who` clicks a button on the run message (Approve: `run.approve`); returns the id of its private answer (`answerTo`). */
  async click(run: RunMessage, actionId: string, who: Person, value = run.runId): Promise<string> {
    const responseId = `click-${String(++this.answers)}`;
    const res = await sendBlockAction(this.botUrl, { actionId, value, userId: who.id, messageTs: run.ts, channelId: run.channel, responseUrl: this.slack.responseUrl(responseId) });
    expect(res.status).toBe(200);
    return responseId;
  }

  /** What the person was told privately after a command or click. */
  async answerTo(responseId: string): Promise<string> {
    const told = await this.slack.waitFor(() => this.slack.responses.find((r) => r.id === responseId));
    return String(told.body.text);
  }

  /**
   * Waits for the run to end, as its channel sees it: the ending reply in the
   * run message's thread, and the recovery report file the worker posts.
   */
  async ended(run: RunMessage, timeoutMs = 30_000): Promise<RunEnding> {
    const filename = `recovery-${run.runId}.md`;
    const found = await this.slack
      .waitFor(() => {
        const ending = this.slack.replies(run.ts).find((m) => typeof m.text === 'string' && m.text.includes(run.runId) && TERMINAL_REPLY.test(m.text));
        const shared = [...this.slack.messages.values()].find((m: StoredMessage) => m.files?.some((f) => f.name === filename));
        return ending && shared && { ending: String(ending.text), shared };
      }, timeoutMs)
      .catch((err: unknown) => {
        throw new Error(`run ${run.runId} did not end with its report within ${String(timeoutMs)} ms. Its message:\n${this.messageOf(run)}\n${String(err)}\n${this.logs()}`);
      });
    expect(found.shared.channel).toBe(run.channel);
    const file = found.shared.files?.find((f) => f.name === filename);
    // The run message follows the run a moment later (its updates are coalesced).
    const message = await this.messageShows(run, /\*(succeeded|failed|cancelled)\*/, 10_000);
    return { ending: found.ending, message, report: file?.content ?? '', reportComment: String(found.shared.text) };
  }

  private async waitForSlackDoor(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { ack } = await this.command('help');
      if (ack.status === 200) return;
      if (Date.now() > deadline) throw new Error(`the bot never answered /dr help (HTTP ${String(ack.status)})\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The rows of the report's step table: step id → [state, took]. */
export function reportSteps(markdown: string): Map<string, { state: string; took: string }> {
  const rows = new Map<string, { state: string; took: string }>();
  for (const line of markdown.split('\n')) {
    const cells = /^\| \d+ \| `([^`]+)` \| [^|]* \| (\w+) \| [^|]* \| [^|]* \| ([^|]+) \| \d+ \|$/.exec(line);
    if (cells?.[1] && cells[2] && cells[3]) rows.set(cells[1], { state: cells[2], took: cells[3].trim() });
  }
  return rows;
}

/** The step ids of a shipped runbook, in order: what its run message and report list. */
export function shippedStepIds(runbookId: string): string[] {
  const runbook = parse(readFileSync(join(SHIPPED_COMMANDS, `${runbookId}.yaml`), 'utf8')) as { steps: { id: string }[] };
  return runbook.steps.map((s) => s.id);
}
