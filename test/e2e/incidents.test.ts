import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack, readable } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { joinChannel, pressPublish } from '../support/incidents.ts';
import { uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand, sendViewSubmission } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001';
const ONCALL = 'U0ONCALL01';
const BOB = 'U0BOB00001';
const CAROL = 'U0CAROL001';

const SP_KEY = 'sp-api-key-0123456789abcdef';

describe('incidents: declare, status changes, the channel and the status page', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  const prefix = uniquePrefix();
  let responses = 0;

  const env = () => ({
    STATUSPAGE_API_KEY: SP_KEY,
    STATUSPAGE_PAGE_ID: 'page001',
    STATUSPAGE_API_URL: page.url,
    STATUSPAGE_COMPONENTS: 'api:cmpapi0001,db:cmpdb00001',
    STATUSPAGE_RETRY_BASE_MS: '100',
    STATUSPAGE_WARN_AFTER_MS: '300',
    INCIDENT_CLOCK_MS: '400',
    SLACK_INCIDENT_RESPONDERS: ONCALL,
    SLACK_ANNOUNCE_CHANNEL: 'C0ANNOUNCE1',
    // Status changes: the commander (the declarer here) and BOB; the first public post: CAROL.
    DR_RESPONDERS: BOB,
    DR_PUBLISHERS: CAROL,
    DR_STATUS_CHANGES_PER_10_MINUTES: '50',
  });
  const command = (text: string, channel: string, user = ALICE) =>
    sendSlashCommand(bot.url, { text, channel_id: channel, user_id: user, response_url: slack.responseUrl(`inc-${++responses}`) });
  const postsIn = (channel: string) => slack.callsTo('chat.postMessage').filter((c) => c.args.channel === channel).map((c) => String(c.args.text));
  /** Messages in a channel as they read now (after updates), oldest first. */
  const messagesIn = (channel: string) => [...slack.messages.values()].filter((m) => m.channel === channel);
  const summaryOf = (channel: string) => {
    const pinned = messagesIn(channel).find((m) => slack.pins.has(m.ts));
    return pinned ? readable(pinned) : undefined;
  };
  let clicks = 0;
  const click = async (actionId: string, value: string, user: string, channel: string, messageTs: string) => {
    const id = `click-${++clicks}`;
    const res = await sendBlockAction(bot.url, { actionId, value, userId: user, channelId: channel, messageTs, responseUrl: slack.responseUrl(id) });
    expect(res.status).toBe(200);
    return id;
  };

  let incidentChannel = '';

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001', 'cmpdb00001']).start();
    bot = await startTestBot({ slack, prefix, env: env() });
  });
  afterAll(async () => {
    await bot.stop();
    await Promise.all([slack.stop(), page.stop()]);
  });

  it('declare: a channel with the declarer and responders, the pinned summary, the template, an announcement, and a status page incident once published', async () => {
    const ack = await command('declare region-outage "API down in us-east-1" --services api,db', 'C0GENERAL01');
    expect(ack.json?.response_type).toBe('ephemeral');
    expect(String(ack.json?.text)).toMatch(/^:rotating_light: Declared \*API down in us-east-1\* \(`inc-\d{8}-api-down-in-us-east-1-[0-9a-f]{4}`\)/);

    const created = await slack.waitFor(() => slack.callsTo('conversations.create')[0]);
    expect(String(created.args.name)).toMatch(/^inc-\d{8}-api-down-in-us-east-1-[0-9a-f]{4}$/);
    incidentChannel = createdChannelId(created);
    const invite = await slack.waitFor(() => slack.callsTo('conversations.invite')[0]);
    expect(invite.args).toMatchObject({ channel: incidentChannel, users: `${ALICE},${ONCALL}` });
    await slack.waitFor(() => slack.callsTo('pins.add')[0]);
    const declared = await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('[INCIDENT] API down in us-east-1')));
    expect(declared).toContain('*STATUS:* Investigating');
    expect(declared).toContain('Affected services: api, db');
    expect(declared).toContain('RTO 4h · RPO 15m (Region-wide outage)');
    await slack.waitFor(() => postsIn('C0ANNOUNCE1').find((t) => t.includes(`follow it in <#${incidentChannel}>`)));

    // Nothing public until a publisher confirms the first post.
    expect(page.writes).toEqual([]);
    await pressPublish(bot.url, slack, incidentChannel, CAROL);
    await slack.waitFor(() => page.writes.length >= 1 && page.writes);
    expect(page.incidents[0]).toMatchObject({ name: 'API down in us-east-1', status: 'investigating' });
    expect(page.components.get('cmpapi0001')).toBe('major_outage');
    expect(page.incidents[0]?.incident_updates[0]?.body).toBe('We are investigating an issue affecting api, db. We will provide an update within 30 minutes.');

    const summary = await slack.waitFor(() => summaryOf(incidentChannel));
    expect(summary).toContain('*Commander:* <@U0ALICE001>');
    expect(summary).toContain('*Actions taken*\\nNone yet.');
    expect(summary).toContain('Find the cause');
    expect(summary).toMatch(/RTO\* 4h: 3h 59m( \d+s)? left/);
    for (const state of ['identified', 'monitoring', 'resolved']) expect(summary).toContain(`"action_id":"incident.status.${state}"`);
    // The DR plan's "During Disaster" checklist, its first item done by declaring.
    const during = await slack.waitFor(() => messagesIn(incidentChannel).find((m) => String(m.text).startsWith('During Disaster')));
    expect(String(during.text)).toBe('During Disaster (DR plan checklist): 1 of 6 done');
    expect(readable(during)).toContain('~Incident declared with appropriate severity~\\n_<@U0ALICE001> at ');
    expect(readable(during)).toContain(':white_large_square: On-call team mobilized');
    // The declared template names the commander as a mention, not as escaped text.
    expect(declared).toContain('*INCIDENT COMMANDER:* <@U0ALICE001>');
  });

  it('the incident clock redraws the pinned summary: time since start moves without anyone touching it', async () => {
    const summaryTs = [...slack.pins][0] ?? '';
    const updatesBefore = slack.callsTo('chat.update').filter((c) => c.args.ts === summaryTs).length;
    await slack.waitFor(() => slack.callsTo('chat.update').filter((c) => c.args.ts === summaryTs).length >= updatesBefore + 2, 10_000);
    expect(summaryOf(incidentChannel)).toMatch(/\(\d+s ago\)/);
  });

  it('each status change posts the update template in the channel and updates the status page, in order', async () => {
    for (const [state, message] of [
      ['identified', 'Primary region lost; failing over to us-west-2'],
      ['monitoring', 'Serving from us-west-2; watching error rates'],
    ]) {
      const writes = page.writes.length;
      const res = await command(`status ${state ?? ''} "${message ?? ''}"`, incidentChannel);
      expect(String(res.json?.text)).toContain(`Status set to *${state ?? ''}*`);
      // One at a time: an update still queued when the next one comes is superseded by it (README, Incidents).
      await slack.waitFor(() => page.writes.length > writes && page.writes, 15_000);
    }
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('*Monitoring*')));
    const updates = postsIn(incidentChannel).filter((t) => t.includes(':mega:'));
    expect(updates.map((t) => /\*(Identified|Monitoring)\*/.exec(t)?.[1])).toEqual(['Identified', 'Monitoring']);
    expect(updates[0]).toContain('Primary region lost; failing over to us-west-2');
    await slack.waitFor(() => page.writes.length >= 3 && page.writes);
    expect(page.writes).toEqual(['create investigating', 'update identified', 'update monitoring']);
    expect(page.components.get('cmpapi0001')).toBe('degraded_performance');
    // Public text never carries the internal message.
    expect(JSON.stringify(page.incidents)).not.toContain('us-west-2');
  });

  it('refuses an unknown status, a status outside an incident channel, and an unknown scenario; nothing changes', async () => {
    const before = page.writes.length;
    expect(String((await command('status fixed "done"', incidentChannel)).json?.text)).toContain('`fixed` is not a status: use investigating, identified, monitoring or resolved');
    expect(String((await command('status resolved "done"', 'C0RANDOM01')).json?.text)).toContain('This channel has no incident');
    expect(String((await command('declare region-outge "x y z"', 'C0GENERAL01')).json?.text)).toContain('There is no scenario `region-outge`. Did you mean `region-outage`?');
    expect(String((await command('status monitoring "again"', incidentChannel)).json?.text)).toContain('The incident is already monitoring');
    await new Promise((r) => setTimeout(r, 500));
    expect(page.writes.length).toBe(before);
  });

  it('Statuspage down for a while: the channel is warned, then the queued updates arrive once, in order, the newest last', async () => {
    page.down = { status: 503 };
    await command('status identified "Replica lag; pausing writes"', incidentChannel);
    await command('status investigating "Lag is back; looking again"', incidentChannel);
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('The status page has not accepted updates')), 15_000);
    page.down = undefined;
    await slack.waitFor(() => page.writes.at(-1) === 'update investigating' && page.writes, 20_000);
    await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('Statuspage is reachable again')), 10_000);
    await new Promise((r) => setTimeout(r, 300));
    // Queued behind an unsent one, identified may have been superseded by investigating; never out of order, never twice.
    expect([['update identified', 'update investigating'], ['update investigating']]).toContainEqual(page.writes.slice(3));
    expect(page.writes.slice(0, 3)).toEqual(['create investigating', 'update identified', 'update monitoring']);
  });

  it('Statuspage rate-limits (429 with Retry-After): the update waits and goes out once; a refused update is skipped with a warning, later ones go on', async () => {
    const writes = page.writes.length;
    page.down = { status: 429 };
    await command('status identified "Replication broken again"', incidentChannel);
    await slack.waitFor(() => page.requests.some((r) => r.status === 429) && page.requests);
    page.down = undefined;
    await slack.waitFor(() => page.writes.length > writes && page.writes, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(page.writes.slice(writes)).toEqual(['update identified']);

    // The page no longer knows the db component: Statuspage answers 422 for good.
    page.components.delete('cmpdb00001');
    await command('status monitoring "Replication repaired"', incidentChannel);
    const warning = await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('The status page refused an update')));
    expect(warning).toContain('unknown component cmpdb00001');
    expect(page.writes.slice(writes)).toEqual(['update identified']);
    page.components.set('cmpdb00001', 'major_outage');
  });

  it('the summary\'s status buttons open a form; its submission moves the incident, a bad one changes nothing', async () => {
    const summaryTs = [...slack.pins][0] ?? '';
    const incidentId = /Incident `([\w-]+)`/.exec(summaryOf(incidentChannel) ?? '')?.[1] ?? '';
    const opened = slack.openedViews.length;
    await click('incident.status.identified', `${incidentId}|identified`, BOB, incidentChannel, summaryTs);
    const modal = await slack.waitFor(() => slack.openedViews[opened]);
    expect(modal.view).toMatchObject({ callback_id: 'incident.status', title: { text: 'Set: Identified' } });

    const submit = (message: string) =>
      sendViewSubmission(bot.url, { view: modal.view, viewId: modal.id, userId: BOB, values: { message: { value: { type: 'plain_text_input', value: message } } } });
    const tooShort = await submit('x');
    expect(tooShort.json).toMatchObject({ response_action: 'errors', errors: { message: expect.stringContaining('Say what changed') as unknown } });
    const updatesBefore = postsIn(incidentChannel).filter((t) => t.includes(':mega:')).length;

    const ok = await submit('The fix did not hold; failing over again');
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    const update = await slack.waitFor(() => postsIn(incidentChannel).filter((t) => t.includes(':mega:'))[updatesBefore]);
    expect(update).toContain('*Identified*');
    expect(update).toContain('The fix did not hold; failing over again');
    await slack.waitFor(() => page.writes.at(-1) === 'update identified' && page.writes, 15_000);

    // The same (now stale) button again: refused privately, nothing changes.
    const stale = await click('incident.status.identified', `${incidentId}|identified`, BOB, incidentChannel, summaryTs);
    const refusal = await slack.waitFor(() => slack.responses.find((r) => r.id === stale)?.body);
    expect(String(refusal.text)).toContain('The incident is already identified (this button is from before the last change). Nothing changed.');
  });

  it('checklist items tick with who and when, once however often clicked, and can be undone', async () => {
    const during = messagesIn(incidentChannel).find((m) => String(m.text).startsWith('During Disaster'));
    const incidentId = /Incident `([\w-]+)`/.exec(summaryOf(incidentChannel) ?? '')?.[1] ?? '';
    expect(during).toBeDefined();
    const ts = during?.ts ?? '';
    // Only the channel's members tick: BOB and CAROL join it.
    joinChannel(slack, incidentChannel, BOB, CAROL);
    await Promise.all([1, 2, 3].map(() => click('incident.check', `${incidentId}|checklistDuring|1`, BOB, incidentChannel, ts)));
    await slack.waitFor(() => String(slack.messageAt(ts)?.text).includes('2 of 6 done'));
    expect(readable(slack.messageAt(ts))).toContain('~On-call team mobilized~\\n_<@U0BOB00001> at ');
    await click('incident.uncheck', `${incidentId}|checklistDuring|1`, BOB, incidentChannel, ts);
    await slack.waitFor(() => String(slack.messageAt(ts)?.text).includes('1 of 6 done'));
    await click('incident.check', `${incidentId}|checklistDuring|1`, CAROL, incidentChannel, ts);
    await slack.waitFor(() => readable(slack.messageAt(ts)).includes('~On-call team mobilized~\\n_<@U0CAROL001> at '));
    // A forged value is refused and changes nothing.
    const forged = await click('incident.check', `${incidentId}|checklistDuring|99`, BOB, incidentChannel, ts);
    expect(String((await slack.waitFor(() => slack.responses.find((r) => r.id === forged)?.body)).text)).toContain('not part of an incident');
    expect(String(slack.messageAt(ts)?.text)).toContain('2 of 6 done');
  });

  it('a tick stored while Slack refuses to redraw the checklist says so, and does not ask to click again', async () => {
    const incidentId = /Incident `([\w-]+)`/.exec(summaryOf(incidentChannel) ?? '')?.[1] ?? '';
    // A checklist message Slack no longer has (deleted): its redraw is refused with message_not_found.
    const answer = await click('incident.check', `${incidentId}|checklistDuring|2`, CAROL, incidentChannel, '1764000000.999999');
    const text = String((await slack.waitFor(() => slack.responses.find((r) => r.id === answer)?.body)).text);
    expect(text).toContain('is ticked and recorded');
    expect(text).toContain('`message_not_found`');
    expect(text).not.toMatch(/try again/i);
    // It is stored: the real checklist, redrawn by the next click on it, counts it (and the click adds nothing).
    const during = messagesIn(incidentChannel).find((m) => String(m.text).startsWith('During Disaster'));
    await click('incident.check', `${incidentId}|checklistDuring|2`, CAROL, incidentChannel, during?.ts ?? '');
    await slack.waitFor(() => String(slack.messageAt(during?.ts ?? '')?.text).includes('3 of 6 done'), 5_000);
  });

  it('survives a restart of the bot between transitions, and resolution reports the achieved RTO', async () => {
    await bot.stop({ keepData: true });
    bot = await startTestBot({ slack, prefix, env: env() });
    const res = await command('status resolved "Recovered in us-west-2; error rates normal"', incidentChannel);
    expect(String(res.json?.text)).toContain('Status set to *resolved*');
    const resolved = await slack.waitFor(() => postsIn(incidentChannel).find((t) => t.includes('[RESOLVED] API down in us-east-1')), 15_000);
    expect(resolved).toMatch(/\*RTO:\* achieved [\d.]+m?s against a target of 4h — met/);
    expect(resolved).toContain('*RPO:* no data restored against a target of 15m — met');
    // The post-mortem is a Markdown document shared in the channel, with a short message.
    const shared = await slack.waitFor(() => messagesIn(incidentChannel).find((m) => m.files?.some((f) => f.name.startsWith('postmortem-'))));
    expect(String(shared.text)).toContain('post-mortem draft of *API down in us-east-1*');
    const postmortem = shared.files?.[0]?.content ?? '';
    expect(postmortem).toContain('# Post-mortem: API down in us-east-1');
    expect(postmortem).toContain('RTO: achieved');
    expect(postmortem).toMatch(
      /## Timeline \(UTC\)\n• \d\d:\d\d <@U0ALICE001> declared \(Region-wide outage, sev1\)\n• \d\d:\d\d <@U0CAROL001> published the incident to the status page\n• \d\d:\d\d <@U0ALICE001> identified: Primary region lost; failing over to us-west-2/,
    );
    expect(postmortem).toContain('resolved: Recovered in us-west-2; error rates normal');
    expect(postmortem).toContain(':ballot_box_with_check: Incident declared with appropriate severity — <@U0ALICE001>');
    expect(postmortem).toContain('## Root cause');
    expect(postmortem.match(/<@U0BOB00001> checked "On-call team mobilized"/g)).toHaveLength(1);
    expect(postmortem).toContain('<@U0BOB00001> unchecked "On-call team mobilized"');
    expect(postmortem).toContain(':ballot_box_with_check: On-call team mobilized — <@U0CAROL001>');
    const after = await slack.waitFor(() => messagesIn(incidentChannel).find((m) => String(m.text).startsWith('After Recovery')));
    expect(String(after.text)).toBe('After Recovery (DR plan checklist): 0 of 6 done');
    expect(readable(after)).toContain('Post-mortem scheduled');
    // A resolved incident's summary offers only the commander's Reopen, and its clock stops.
    await slack.waitFor(() => summaryOf(incidentChannel)?.includes('achieved') && summaryOf(incidentChannel)?.includes('Reopen…') && !summaryOf(incidentChannel)?.includes('incident.status.identified'));
    await slack.waitFor(() => page.writes.at(-1) === 'update resolved' && page.writes, 15_000);
    expect(page.components.get('cmpapi0001')).toBe('operational');
    expect(String((await command('status identified "back?"', incidentChannel)).json?.text)).toContain('The incident is resolved');
  });

  it('/dr declare alone opens the form; a submission declares once, with the chosen commander and impact', async () => {
    const opened = slack.openedViews.length;
    const ack = await command('declare', 'C0GENERAL01');
    expect(ack.status).toBe(200);
    expect(ack.text).toBe('');
    const modal = await slack.waitFor(() => slack.openedViews[opened]);
    expect(modal.view).toMatchObject({ callback_id: 'incident.declare', title: { text: 'Declare an incident' } });
    expect(JSON.stringify(modal.view)).toContain('Data corruption (RTO 2h, RPO 1h)');
    expect(JSON.stringify(modal.view)).toContain('"initial_user":"U0ALICE001"');

    const values = (title: string) => ({
      scenario: { value: { type: 'static_select', selected_option: { value: 'data-corruption', text: { type: 'plain_text', text: 'Data corruption' } } } },
      title: { value: { type: 'plain_text_input', value: title } },
      severity: { value: { type: 'static_select', selected_option: { value: 'sev2', text: { type: 'plain_text', text: 'SEV2' } } } },
      services: { value: { type: 'plain_text_input', value: 'db' } },
      impact: { value: { type: 'plain_text_input', value: 'Orders show wrong totals <!channel>' } },
      commander: { value: { type: 'users_select', selected_user: CAROL } },
      visibility: { value: { type: 'checkboxes', selected_options: [] } },
    });
    const created = slack.callsTo('conversations.create').length;
    const bad = await sendViewSubmission(bot.url, { view: modal.view, viewId: modal.id, values: values('x') });
    expect(bad.json).toMatchObject({ response_action: 'errors', errors: { title: expect.stringContaining('The title must be 3 to 150 characters') as unknown } });

    const submissions = await Promise.all([1, 2].map(() => sendViewSubmission(bot.url, { view: modal.view, viewId: modal.id, values: values('Orders totals wrong') })));
    expect(submissions.map((r) => r.status)).toEqual([200, 200]);
    const channelCall = await slack.waitFor(() => slack.callsTo('conversations.create')[created]);
    const channel = createdChannelId(channelCall);
    const invite = await slack.waitFor(() => slack.callsTo('conversations.invite').find((c) => c.args.channel === channel));
    expect(String(invite.args.users).split(',')).toEqual([ALICE, CAROL, ONCALL]);
    const declared = await slack.waitFor(() => postsIn(channel).find((t) => t.includes('[INCIDENT] Orders totals wrong')));
    expect(declared).toContain('*INCIDENT COMMANDER:* <@U0CAROL001>');
    // User text is escaped: no @channel ping.
    expect(declared).toContain('User impact: Orders show wrong totals &lt;!channel&gt;');
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.callsTo('conversations.create').length).toBe(created + 1);
    // sev2 is public by default: the page gets it once published, with the db component only.
    await new Promise((r) => setTimeout(r, 300));
    expect(page.incidents.find((i) => i.name === 'Orders totals wrong')).toBeUndefined();
    await pressPublish(bot.url, slack, channel, CAROL);
    await slack.waitFor(() => page.incidents.find((i) => i.name === 'Orders totals wrong'));
    expect(page.components.get('cmpdb00001')).toBe('major_outage');
  });

  it('--private declares without a status page', async () => {
    const before = page.writes.length;
    const ack = await command('declare data-corruption "Drill: orders table" --private --severity sev3', 'C0GENERAL01');
    expect(String(ack.json?.text)).toContain('(private: no status page)');
    await slack.waitFor(() => slack.callsTo('conversations.create').length >= 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(page.writes.length).toBe(before);
  });
});
