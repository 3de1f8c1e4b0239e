import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack } from '../support/fake-slack.ts';
import { sendSlashCommand, sendViewSubmission, triggerId } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';
const DAVE = 'U0DAVE0001';
const ONCALL = 'U0ONCALL01';
const GENERAL = 'C0GENERAL01';
/** A private channel the declarer is not in: an edited form must not reach it. */
const SECRET = 'C0SECRET001';

/** Every mrkdwn text object in blocks. */
const mrkdwnIn = (blocks: unknown): string[] => {
  if (Array.isArray(blocks)) return blocks.flatMap(mrkdwnIn);
  if (typeof blocks !== 'object' || blocks === null) return [];
  const o = blocks as Record<string, unknown>;
  if (o.type === 'mrkdwn' && typeof o.text === 'string') return [o.text];
  return Object.values(o).flatMap(mrkdwnIn);
};

type Values = Record<string, { value: Record<string, unknown> }>;
const formValues = (title: string, commander: string): Values => ({
  scenario: { value: { type: 'static_select', selected_option: { value: 'data-corruption', text: { type: 'plain_text', text: 'Data corruption' } } } },
  title: { value: { type: 'plain_text_input', value: title } },
  severity: { value: { type: 'static_select', selected_option: { value: 'sev3', text: { type: 'plain_text', text: 'SEV3' } } } },
  services: { value: { type: 'plain_text_input', value: '' } },
  impact: { value: { type: 'plain_text_input', value: 'Orders show wrong totals' } },
  commander: { value: { type: 'users_select', selected_user: commander } },
  visibility: { value: { type: 'checkboxes', selected_options: [] } },
});

describe('the declaration form keeps its context on the server and checks the commander', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let n = 0;

  /** Opens the form as `user` in `channel`, as `/dr declare` alone does; resolves with the view Slack holds. */
  const openForm = async (user: string, channel: string) => {
    const opened = slack.openedViews.length;
    await sendSlashCommand(bot.url, { text: 'declare', channel_id: channel, user_id: user, response_url: slack.responseUrl(`open-${String(++n)}`) });
    return slack.waitFor(() => slack.openedViews[opened]);
  };
  const submit = (view: Record<string, unknown>, viewId: string, values: Values, userId = ALICE) => sendViewSubmission(bot.url, { view, viewId, values, userId });
  const touched = (channel: string) => slack.calls.filter((c) => c.args.channel === channel);
  const errorsOf = (res: { json?: Record<string, unknown> | undefined }) => (res.json?.errors ?? {}) as Record<string, string>;

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.addUser('U0GUEST001', { is_restricted: true });
    slack.addUser('U0SINGLE01', { is_ultra_restricted: true });
    slack.addUser('U0GONE0001', { deleted: true });
    slack.addUser('U0HELPBOT1', { is_bot: true });
    slack.addUser('U0OTHERORG', { team_id: 'T0OTHER001' });
    bot = await startTestBot({ slack, env: { SLACK_INCIDENT_RESPONDERS: ONCALL } });
  });
  afterAll(async () => {
    await bot.stop();
    await slack.stop();
  });

  it('the form carries only an id: an edited private_metadata naming another channel declares nothing and posts nowhere', async () => {
    const modal = await openForm(ALICE, GENERAL);
    expect(JSON.parse(String(modal.view.private_metadata))).toEqual({ form: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown });
    for (const metadata of [JSON.stringify({ channel: SECRET }), JSON.stringify({ form: 'a'.repeat(32), channel: SECRET }), JSON.stringify({ form: 'a'.repeat(32) })]) {
      const res = await submit({ ...modal.view, private_metadata: metadata }, modal.id, formValues('Orders totals wrong', ALICE));
      expect(res.json?.response_action).toBe('errors');
      expect(errorsOf(res).title).toMatch(/This form (could not be read|has expired or was not opened by you); close it and run \/dr declare again/);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.callsTo('conversations.create')).toEqual([]);
    expect(touched(SECRET)).toEqual([]);
  });

  it('a form opened by one person cannot be submitted as another', async () => {
    const modal = await openForm(ALICE, GENERAL);
    const res = await submit(modal.view, modal.id, formValues('Orders totals wrong', BOB), BOB);
    expect(errorsOf(res).title).toContain('This form has expired or was not opened by you');
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.callsTo('conversations.create')).toEqual([]);
  });

  it('the commander must be an active full member of this workspace: each refusal under the field, nothing created', async () => {
    const modal = await openForm(ALICE, GENERAL);
    const cases: [string, string][] = [
      [`${CAROL}> <!channel> <https://evil.example|click>`, 'Choose the incident commander from the list'],
      ['U0NOBODY01', 'Slack does not know this one'],
      ['U0GUEST001', 'is a guest of this workspace'],
      ['U0SINGLE01', 'is a guest of this workspace'],
      ['U0GONE0001', 'is deactivated'],
      ['U0HELPBOT1', 'is a bot or an app, not a person'],
      ['U0OTHERORG', 'is a member of another organisation'],
    ];
    for (const [commander, why] of cases) {
      const res = await submit(modal.view, modal.id, formValues('Orders totals wrong', commander));
      expect(res.json?.response_action, commander).toBe('errors');
      expect(errorsOf(res).commander, commander).toContain(why);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.callsTo('conversations.create')).toEqual([]);
    expect(slack.callsTo('conversations.invite')).toEqual([]);
  });

  it('a valid form declares from where it was opened: the channel from the server, the commander invited by id, every message escaped', async () => {
    const modal = await openForm(DAVE, GENERAL);
    const res = await submit(modal.view, modal.id, formValues('Totals <!channel> wrong <@U0BOB00001>', CAROL), DAVE);
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const channel = createdChannelId(await slack.waitFor(() => slack.callsTo('conversations.create')[0]));
    const invite = await slack.waitFor(() => slack.callsTo('conversations.invite')[0]);
    expect(invite.args).toMatchObject({ channel, users: `${DAVE},${CAROL},${ONCALL}` });
    const confirmation = await slack.waitFor(() => slack.callsTo('chat.postEphemeral').find((c) => c.args.user === DAVE));
    expect(confirmation.args.channel).toBe(GENERAL);
    const notice = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === GENERAL));
    expect(String(notice.args.text)).toContain('Totals &lt;!channel&gt; wrong &lt;@U0BOB00001&gt;');
    await slack.waitFor(() => slack.callsTo('chat.postMessage').filter((c) => c.args.channel === channel).length >= 3);
    // What Slack reads as markup: messages' text and their mrkdwn blocks (plain_text shows `<!channel>` as typed).
    const posted = slack.callsTo('chat.postMessage').flatMap((c) => [String(c.args.text), ...mrkdwnIn(c.args.blocks)]).join('\n');
    expect(posted).not.toContain('<!channel>');
    expect(posted).not.toContain('<@U0BOB00001>');
    expect(posted).toContain(`<@${CAROL}>`);
  });
});

describe('declaration limits: per person and for everyone, shared in Redis, retries counted once', () => {
  let slack: FakeSlack;
  let bot: TestBot;
  let n = 0;

  const declare = async (user: string, title: string, trigger = triggerId()) =>
    String((await sendSlashCommand(bot.url, { text: `declare region-outage "${title}" --private`, channel_id: GENERAL, user_id: user, trigger_id: trigger, response_url: slack.responseUrl(`lim-${String(++n)}`) })).json?.text);

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    bot = await startTestBot({ slack, env: { DR_DECLARATIONS_PER_USER_PER_10_MINUTES: '2', DR_DECLARATIONS_PER_10_MINUTES: '3' } });
  });
  afterAll(async () => {
    await bot.stop();
    await slack.stop();
  });

  it('a person\'s third declaration in 10 minutes is refused with the limit and the wait; a retry of the same one and a mistaken one count for nothing', async () => {
    expect(await declare(ALICE, 'x')).toContain('The title must be 3 to 150 characters');
    const trigger = triggerId();
    const first = await declare(ALICE, 'Orders API down', trigger);
    expect(first).toContain('Declared *Orders API down*');
    // Slack retries the same command (same trigger id): the same incident, not counted again.
    expect(await declare(ALICE, 'Orders API down', trigger)).toBe(first);
    expect(await declare(ALICE, 'Orders API down', trigger)).toBe(first);
    expect(await declare(ALICE, 'Payments API down')).toContain('Declared *Payments API down*');
    const refused = await declare(ALICE, 'Search API down');
    expect(refused).toContain('You have declared 2 incidents in 10 minutes, the most one person may (DR_DECLARATIONS_PER_USER_PER_10_MINUTES)');
    expect(refused).toMatch(/Try again in \d+m( \d+s)?/);
    expect(refused).toContain('Nothing was declared.');
  });

  it('the bot-wide limit refuses anyone once reached, and nothing is created for a refusal', async () => {
    expect(await declare(BOB, 'Billing API down')).toContain('Declared *Billing API down*');
    const refused = await declare(CAROL, 'Login API down');
    expect(refused).toContain('3 incidents have been declared in 10 minutes, the most the bot takes (DR_DECLARATIONS_PER_10_MINUTES)');
    expect(refused).toContain('Nothing was declared.');
    await slack.waitFor(() => slack.callsTo('conversations.create').length >= 3);
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.callsTo('conversations.create').map((c) => String(c.args.name).replace(/^inc-\d{8}-|-[0-9a-f]{4}$/g, ''))).toEqual(['orders-api-down', 'payments-api-down', 'billing-api-down']);
    expect(slack.callsTo('conversations.invite')).toHaveLength(3);
  });
});
