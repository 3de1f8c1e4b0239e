import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident } from '../../src/incidents/model.ts';
import { IncidentStore } from '../../src/incidents/store.ts';
import { BOT_TOKEN, startTestBot, type TestBot } from '../support/bot.ts';
import { createdChannelId, FakeSlack, readable } from '../support/fake-slack.ts';
import { FakeStatuspage } from '../support/fake-statuspage.ts';
import { pressPublish, waitForSummary } from '../support/incidents.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { sendBlockAction, sendSlashCommand, sendViewSubmission } from '../support/slack-requests.ts';

const ALICE = 'U0ALICE001'; // declares: the commander of what she declares
const BOB = 'U0BOB00001'; // DR_RESPONDERS, invited to incident channels
const CAROL = 'U0CAROL001'; // DR_PUBLISHERS through @comms; no responder
const DAVE = 'U0DAVE0001'; // a full member with no role

const SP_KEY = 'sp-access-key-0123456789abcdef';
const DECLARED_BODY = 'We are investigating an issue affecting api, db. We will provide an update within 30 minutes.';
const STATUS_LIMIT = 6;

/**
 * Who may change an incident, and where: status changes and resolution in the
 * incident's own channel by its commander or a responder, reopening by the
 * commander, the first public post confirmed by a publisher, checklist ticks
 * by the channel's members, and a limit on public status changes.
 */
describe('incident access: who may change an incident, and where', () => {
  let slack: FakeSlack;
  let page: FakeStatuspage;
  let bot: TestBot;
  let redis: Redis;
  let store: IncidentStore;
  const prefix = uniquePrefix();
  let n = 0;

  const command = async (text: string, channel: string, user: string) =>
    String((await sendSlashCommand(bot.url, { text, channel_id: channel, user_id: user, response_url: slack.responseUrl(`acc-${String(++n)}`) })).json?.text);
  /** Clicks a button; resolves with the private answer's text ('' when none came within `waitMs`). */
  const click = async (actionId: string, value: string, user: string, channel: string, messageTs: string, waitMs = 3_000) => {
    const id = `acc-click-${String(++n)}`;
    const res = await sendBlockAction(bot.url, { actionId, value, userId: user, channelId: channel, messageTs, responseUrl: slack.responseUrl(id) });
    expect(res.status).toBe(200);
    if (!waitMs) return '';
    const answer = await slack.waitFor(() => slack.responses.find((r) => r.id === id), waitMs).catch(() => undefined);
    return answer ? String(answer.body.text) : '';
  };
  const declare = async (text: string, user = ALICE): Promise<{ channel: string; incident: Incident }> => {
    const before = slack.callsTo('conversations.create').length;
    const ack = await command(`declare ${text}`, 'C0GENERAL01', user);
    expect(ack).toContain(':rotating_light: Declared');
    const channel = createdChannelId(await slack.waitFor(() => slack.callsTo('conversations.create')[before]));
    const { incidentId } = await waitForSummary(slack, channel);
    const incident = await store.get(incidentId);
    if (!incident) throw new Error('no incident');
    return { channel, incident };
  };
  /** Everything a refused change must leave as it was. */
  const snapshot = async (id: string) => ({
    state: (await store.get(id))?.state,
    timeline: (await store.timeline(id)).length,
    outbox: await redis.llen(`${prefix}:statuspage-outbox:${id}`),
    page: page.requests.length,
  });
  const submitStatus = (view: Record<string, unknown>, viewId: string, user: string, message: string) =>
    sendViewSubmission(bot.url, { view, viewId, userId: user, values: { message: { value: { type: 'plain_text_input', value: message } } } });

  beforeAll(async () => {
    slack = await new FakeSlack([BOT_TOKEN]).start();
    slack.userGroups.set('comms', { id: 'S0COMMS001', users: [CAROL] });
    page = await new FakeStatuspage(SP_KEY, 'page001', ['cmpapi0001', 'cmpdb00001']).start();
    bot = await startTestBot({
      slack,
      prefix,
      env: {
        STATUSPAGE_API_KEY: SP_KEY,
        STATUSPAGE_PAGE_ID: 'page001',
        STATUSPAGE_API_URL: page.url,
        STATUSPAGE_COMPONENTS: 'api:cmpapi0001,db:cmpdb00001',
        STATUSPAGE_RETRY_BASE_MS: '100',
        SLACK_INCIDENT_RESPONDERS: BOB,
        DR_RESPONDERS: BOB,
        DR_PUBLISHERS: '@comms',
        DR_STATUS_CHANGES_PER_10_MINUTES: String(STATUS_LIMIT),
      },
    });
    redis = new Redis(TEST_REDIS_URL);
    store = new IncidentStore(redis, prefix);
  });
  afterAll(async () => {
    await bot.stop();
    redis.disconnect();
    await Promise.all([slack.stop(), page.stop()]);
  });

  let main: { channel: string; incident: Incident };

  it('a public incident is not on the status page until published: the summary shows the exact text and who may publish', async () => {
    main = await declare('region-outage "API down in us-east-1" --services api,db');
    const { message } = await waitForSummary(slack, main.channel);
    const summary = readable(message);
    expect(summary).toContain('*Status page: not published yet.*');
    expect(summary).toContain('May publish: members of @comms (DR_PUBLISHERS).');
    expect(summary).toContain(DECLARED_BODY);
    // Slack's confirmation dialog shows the public name and text that will go out.
    const button = (message.blocks as { block_id?: string; elements?: { action_id: string; confirm?: { text: { text: string } } }[] }[]).find((b) => b.block_id === 'incident-publish')?.elements?.[0];
    expect(button?.action_id).toBe('incident.publish');
    expect(button?.confirm?.text.text).toBe(`This goes public now: API down in us-east-1: ${DECLARED_BODY}`);
    await new Promise((r) => setTimeout(r, 500));
    expect(page.requests).toEqual([]);
  });

  it('/dr status by someone who is neither commander nor responder is refused, and nothing changes', async () => {
    const before = await snapshot(main.incident.id);
    const text = await command('status identified "Bad deploy found"', main.channel, DAVE);
    expect(text).toContain(`Only the commander, <@${ALICE}>, or <@${BOB}> (DR_RESPONDERS) may change the status of *API down in us-east-1*, in <#${main.channel}>. Nothing changed.`);
    // The publisher role is not a responder role.
    expect(await command('status resolved "All good"', main.channel, CAROL)).toContain('Only the commander');
    await new Promise((r) => setTimeout(r, 300));
    expect(await snapshot(main.incident.id)).toEqual(before);
  });

  it('/dr status from the channel the incident was declared in is refused: changes happen in its own channel', async () => {
    const before = await snapshot(main.incident.id);
    const text = await command('status identified "Bad deploy found"', 'C0GENERAL01', ALICE);
    expect(text).toContain(`its status changes only in its own channel, <#${main.channel}>`);
    expect(text).toContain('Nothing changed.');
    expect(await snapshot(main.incident.id)).toEqual(before);
  });

  it('the summary\'s Resolve button: refused for a non-responder, elsewhere than the summary, and on a form submitted by someone else', async () => {
    const { ts } = await waitForSummary(slack, main.channel);
    const before = await snapshot(main.incident.id);
    const opened = slack.openedViews.length;
    expect(await click('incident.status.resolved', `${main.incident.id}|resolved`, DAVE, main.channel, ts)).toContain(`:no_entry: Only the commander, <@${ALICE}>, or <@${BOB}> (DR_RESPONDERS)`);
    // The responder clicking from the declaring channel: refused there too.
    expect(await click('incident.status.resolved', `${main.incident.id}|resolved`, BOB, 'C0GENERAL01', ts)).toContain(`can be changed only in its own channel, <#${main.channel}>`);
    expect(slack.openedViews.length).toBe(opened);

    // A responder opens the form; someone else submits it: checked again, refused as a form error.
    await click('incident.status.resolved', `${main.incident.id}|resolved`, BOB, main.channel, ts, 0);
    const modal = await slack.waitFor(() => slack.openedViews[opened]);
    const forged = await submitStatus(modal.view, modal.id, DAVE, 'Everything is fine');
    expect(forged.json).toMatchObject({ response_action: 'errors', errors: { message: expect.stringContaining('Only the commander') as unknown } });
    await new Promise((r) => setTimeout(r, 300));
    expect(await snapshot(main.incident.id)).toEqual(before);
  });

  it('the commander and a responder change the status; while unpublished the changes are kept, not sent', async () => {
    expect(await command('status identified "Bad deploy found"', main.channel, ALICE)).toContain('Status set to *identified*');
    expect(await command('status monitoring "Rolled back; watching"', main.channel, BOB)).toContain('Status set to *monitoring*');
    expect((await store.get(main.incident.id))?.state).toBe('monitoring');
    const timeline = (await store.timeline(main.incident.id)).map((e) => [e.actor, e.text]);
    expect(timeline.slice(-2)).toEqual([
      [ALICE, 'identified: Bad deploy found'],
      [BOB, 'monitoring: Rolled back; watching'],
    ]);
    await new Promise((r) => setTimeout(r, 500));
    expect(page.requests).toEqual([]);
    expect(await redis.llen(`${prefix}:statuspage-outbox:${main.incident.id}`)).toBe(3);
  });

  it('publishing: refused for a non-publisher; pressed twice by a publisher, one page incident, then the newest state', async () => {
    const refused = await pressPublish(bot.url, slack, main.channel, DAVE, { waitForAnswerMs: 3_000 });
    expect(refused).toContain(':no_entry: Only members of @comms (DR_PUBLISHERS) may publish *API down in us-east-1* to the status page');
    await new Promise((r) => setTimeout(r, 300));
    expect(page.requests).toEqual([]);

    await Promise.all([pressPublish(bot.url, slack, main.channel, CAROL), pressPublish(bot.url, slack, main.channel, CAROL)]);
    await slack.waitFor(() => page.writes.length >= 2 && page.writes, 15_000);
    await new Promise((r) => setTimeout(r, 800));
    // The creation as confirmed, then the newest of the changes kept meanwhile (identified was superseded by monitoring).
    expect(page.writes).toEqual(['create investigating', 'update monitoring']);
    expect(page.incidents).toHaveLength(1);
    expect(page.incidents[0]?.name).toBe('API down in us-east-1');
    expect(page.incidents[0]?.incident_updates.at(-1)?.body).toBe(DECLARED_BODY);
    expect(page.components.get('cmpapi0001')).toBe('degraded_performance');
    expect(page.requests.filter((r) => r.method === 'POST')).toHaveLength(1);

    const timeline = (await store.timeline(main.incident.id)).filter((e) => e.text === 'published the incident to the status page');
    expect(timeline.map((e) => e.actor)).toEqual([CAROL]);
    await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === main.channel && String(c.args.text).includes(`<@${CAROL}> published *API down in us-east-1*`)));
    // Pressed again later: told, nothing sent.
    expect(await pressPublish(bot.url, slack, main.channel, CAROL, { waitForAnswerMs: 3_000 })).toContain(`Already published by <@${CAROL}>`);
    // The summary no longer offers the button and says who published.
    await slack.waitFor(() => {
      const text = readable(slack.messageAt([...slack.pins][0] ?? ''));
      return !text.includes('incident.publish') && text.includes(`status page published by <@${CAROL}>`);
    });
  });

  it('after publishing, later changes follow on the page in order', async () => {
    expect(await command('status identified "Rollback did not help"', main.channel, BOB)).toContain('Status set to *identified*');
    await slack.waitFor(() => page.writes.length >= 3 && page.writes, 15_000);
    expect(await command('status resolved "Fixed forward; error rates normal"', main.channel, ALICE)).toContain('Status set to *resolved*');
    await slack.waitFor(() => page.writes.length >= 4 && page.writes, 15_000);
    expect(page.writes).toEqual(['create investigating', 'update monitoring', 'update identified', 'update resolved']);
    expect(page.components.get('cmpapi0001')).toBe('operational');
  });

  it('a publisher removed from the group cannot publish, even within the minute a lookup used to be kept', async () => {
    const ONCALL = 'U0ONCALL01';
    slack.userGroups.set('comms', { id: 'S0COMMS001', users: [CAROL, ONCALL] });
    // As a member, the on-call publisher presses Publish on the incident already published: their membership is read.
    expect(await pressPublish(bot.url, slack, main.channel, ONCALL, { waitForAnswerMs: 3_000 })).toContain(`Already published by <@${CAROL}>`);
    const other = await declare('data-corruption "Orders table damaged" --services db');
    slack.userGroups.set('comms', { id: 'S0COMMS001', users: [CAROL] });
    const before = await snapshot(other.incident.id);
    expect(await pressPublish(bot.url, slack, other.channel, ONCALL, { waitForAnswerMs: 3_000 })).toContain('Only members of @comms (DR_PUBLISHERS) may publish *Orders table damaged*');
    await new Promise((r) => setTimeout(r, 300));
    expect(await snapshot(other.incident.id)).toEqual(before);
    expect((await store.get(other.incident.id))?.publication).toBe('held');
  });

  it('a resolved incident: a responder cannot reopen it, the commander can (Reopen button), into the timeline and onto the page', async () => {
    const before = await snapshot(main.incident.id);
    expect(await command('status investigating "It is back"', main.channel, BOB)).toContain(`Only the commander of *API down in us-east-1*, <@${ALICE}>, may reopen it`);
    const summary = await slack.waitFor(() => {
      const message = slack.messageAt([...slack.pins][0] ?? '');
      return readable(message).includes('Reopen…') && message;
    });
    expect(readable(summary)).not.toContain('incident.status.identified');
    expect(await click('incident.status.investigating', `${main.incident.id}|investigating`, BOB, main.channel, summary.ts)).toContain('may reopen it');
    await new Promise((r) => setTimeout(r, 300));
    expect(await snapshot(main.incident.id)).toEqual(before);

    const opened = slack.openedViews.length;
    await click('incident.status.investigating', `${main.incident.id}|investigating`, ALICE, main.channel, summary.ts, 0);
    const modal = await slack.waitFor(() => slack.openedViews[opened]);
    expect(modal.view).toMatchObject({ callback_id: 'incident.status', title: { text: 'Reopen the incident' } });
    const ok = await submitStatus(modal.view, modal.id, ALICE, 'Errors are back after the fix');
    expect(ok.text).toBe('');
    const reopened = await store.get(main.incident.id);
    expect(reopened?.state).toBe('investigating');
    expect(reopened?.resolvedAt).toBeUndefined();
    expect((await store.timeline(main.incident.id)).at(-1)).toMatchObject({ actor: ALICE, text: 'reopened (investigating): Errors are back after the fix' });
    expect(await store.openIds()).toContain(main.incident.id);
    await slack.waitFor(() => page.writes.length >= 5 && page.writes, 15_000);
    expect(page.writes.at(-1)).toBe('update investigating');
    // Open again: the summary offers the status buttons again.
    await slack.waitFor(() => readable(slack.messageAt(summary.ts)).includes('incident.status.resolved'));
  });

  it('checklists: only the channel\'s members tick; the declaration\'s own tick stays', async () => {
    const during = await slack.waitFor(() => [...slack.messages.values()].find((m) => m.channel === main.channel && String(m.text).startsWith('During Disaster')));
    // The bot's own record has no Undo button.
    expect(JSON.stringify(during.blocks)).not.toContain(`${main.incident.id}|checklistDuring|0`);
    expect(readable(during)).toContain('recorded by the bot');
    const timeline = (await store.timeline(main.incident.id)).length;

    expect(await click('incident.check', `${main.incident.id}|checklistDuring|1`, DAVE, main.channel, during.ts)).toContain(`:no_entry: Only members of <#${main.channel}> may tick or untick`);
    expect(await click('incident.uncheck', `${main.incident.id}|checklistDuring|0`, ALICE, main.channel, during.ts)).toContain('was recorded by the bot when the incident was declared; it stays ticked');
    expect(await click('incident.uncheck', `${main.incident.id}|checklistDuring|0`, DAVE, main.channel, during.ts)).toContain('Only members of');
    expect([...(await store.checks(main.incident.id, 'checklistDuring')).keys()]).toEqual([0]);
    expect((await store.timeline(main.incident.id)).length).toBe(timeline);

    // BOB was invited (SLACK_INCIDENT_RESPONDERS): a member, he ticks, and the timeline says so.
    await click('incident.check', `${main.incident.id}|checklistDuring|1`, BOB, main.channel, during.ts, 0);
    await slack.waitFor(() => String(slack.messageAt(during.ts)?.text).includes('2 of 6 done'));
    expect((await store.timeline(main.incident.id)).at(-1)).toMatchObject({ actor: BOB, text: 'checked "On-call team mobilized" (During Disaster (DR plan checklist))' });
  });

  it('declaring grants nothing: a declarer who names another commander cannot change the status', async () => {
    const opened = slack.openedViews.length;
    await command('declare', 'C0GENERAL01', DAVE);
    const modal = await slack.waitFor(() => slack.openedViews[opened]);
    const before = slack.callsTo('conversations.create').length;
    const res = await sendViewSubmission(bot.url, {
      view: modal.view,
      viewId: modal.id,
      userId: DAVE,
      values: {
        scenario: { value: { type: 'static_select', selected_option: { value: 'data-corruption', text: { type: 'plain_text', text: 'Data corruption' } } } },
        title: { value: { type: 'plain_text_input', value: 'Orders totals wrong' } },
        severity: { value: { type: 'static_select', selected_option: { value: 'sev3', text: { type: 'plain_text', text: 'SEV3' } } } },
        commander: { value: { type: 'users_select', selected_user: ALICE } },
        visibility: { value: { type: 'checkboxes', selected_options: [] } },
      },
    });
    expect(res.status).toBe(200);
    const channel = createdChannelId(await slack.waitFor(() => slack.callsTo('conversations.create')[before]));
    const { incidentId } = await waitForSummary(slack, channel);
    expect(await command('status identified "Found it"', channel, DAVE)).toContain(`Only the commander, <@${ALICE}>, or <@${BOB}> (DR_RESPONDERS)`);
    expect((await store.get(incidentId))?.state).toBe('investigating');
    expect(await command('status identified "Found it"', channel, ALICE)).toContain('Status set to *identified*');
  });

  it('public status changes are limited per incident, with a clear message; private incidents have no publish button and no limit', async () => {
    // The limit counts in fixed 10-minute windows: keep clear of a window's end.
    const leftInWindow = 600_000 - (Date.now() % 600_000);
    if (leftInWindow < 10_000) await new Promise((r) => setTimeout(r, leftInWindow + 100));
    const { channel, incident } = await declare('single-az-failure "AZ use1-az2 lost" --services api');
    const states = Array.from({ length: STATUS_LIMIT + 1 }, (_, i) => (i % 2 === 0 ? 'identified' : 'monitoring'));
    for (const state of states.slice(0, STATUS_LIMIT)) expect(await command(`status ${state} "step"`, channel, ALICE)).toContain(`Status set to *${state}*`);
    const before = await snapshot(incident.id);
    const limited = await command(`status ${states[STATUS_LIMIT] ?? ''} "one more"`, channel, ALICE);
    expect(limited).toMatch(new RegExp(`\\*AZ use1-az2 lost\\* has changed status ${String(STATUS_LIMIT)} times in 10 minutes, the most for a public incident \\(DR_STATUS_CHANGES_PER_10_MINUTES\\).*Try again in \\d+(m|s)`));
    expect(limited).toContain('Nothing changed.');
    expect(await snapshot(incident.id)).toEqual(before);

    const drill = await declare('single-az-failure "Drill: AZ lost" --private');
    expect(readable((await waitForSummary(slack, drill.channel)).message)).not.toContain('incident.publish');
    for (const state of states) expect(await command(`status ${state} "drill step"`, drill.channel, ALICE)).toContain(`Status set to *${state}*`);
  });
});
