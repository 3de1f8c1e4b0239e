import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { errorMessage, isUserError, UserError } from '../../errors.ts';
import { INCIDENT_STATES, INCIDENT_TRANSITIONS, type IncidentState } from '../../incidents/model.ts';
import { SCENARIO_IDS } from '../../incidents/scenarios.ts';
import type { IncidentService } from '../../incidents/service.ts';
import type { IncidentStore } from '../../incidents/store.ts';
import type { ChecklistKind, Templates } from '../../incidents/templates.ts';
import type { Logger } from '../../log/logger.ts';
import type { IncidentAccess } from '../../incidents/access.ts';
import { explainSlackError, slackErrorCode } from '../errors.ts';
import { checkedActor } from '../guard.ts';
import { withTimeout } from '../../queue/connection.ts';
import { formatDuration } from '../../util/duration.ts';
import { checklistPartOf, INCIDENT_ACTIONS, INCIDENT_VIEWS, renderChecklist, renderDeclareModal, renderStatusModal } from '../views/incident.ts';
import { escapeMrkdwn, plainFromMrkdwn } from '../views/message.ts';
import { onceMetadata } from '../post-once.ts';

export interface IncidentActionDeps {
  incidents: IncidentService;
  store: IncidentStore;
  templates: Templates;
  /** Services with a status page component, offered in the declaration form. */
  services: readonly string[];
  /** Who may change, publish and tick an incident, and where (src/incidents/access.ts). */
  access: IncidentAccess;
  logger: Logger;
}

/** Opening a modal must happen inside the trigger's 3 seconds. */
const OPEN_TIMEOUT_MS = 2_000;

/** Opens the declaration form (`/dr declare` with no arguments); who opened it, and where, stay on the server. */
export async function openDeclareForm(client: WebClient, triggerId: string, declarer: string, originChannel: string, services: readonly string[], incidents: IncidentService): Promise<void> {
  const scenarios = SCENARIO_IDS.map((id) => {
    const s = incidents.targets[id];
    return { id, title: s.title, rto: formatDuration(s.rtoMs), rpo: s.rpoMs === 0 ? '0' : formatDuration(s.rpoMs) };
  });
  const form = await withTimeout(incidents.startDeclaration(declarer, originChannel), OPEN_TIMEOUT_MS, 'Opening the form');
  await withTimeout(client.views.open({ trigger_id: triggerId, view: renderDeclareModal({ scenarios, declarer, services, form }) }), OPEN_TIMEOUT_MS, 'Opening the form');
}

const Selected = z.object({ value: z.string() });
/** A submitted input's value, as Slack sends it for each element type. */
const InputValue = z.object({
  value: z.string().nullish(),
  selected_option: Selected.nullish(),
  selected_user: z.string().nullish(),
  selected_options: z.array(Selected).nullish(),
});
const ViewState = z.record(z.string(), z.object({ value: InputValue }));
/** The form carries only its id; its channel and opener are on the server (`startDeclaration`). */
const DeclareMeta = z.object({ form: z.string().max(64) });
const StatusMeta = z.object({ incidentId: z.string(), state: z.enum(INCIDENT_STATES), channel: z.string() });
const CHECK_VALUE = /^([\w-]{1,100})\|(checklistDuring|checklistAfter)\|(\d{1,3})$/;
const STATUS_VALUE = /^([\w-]{1,100})\|(investigating|identified|monitoring|resolved)$/;
const INCIDENT_VALUE = /^[\w-]{1,100}$/;

/**
 * The incident's interactive parts: the declaration form, the status buttons
 * on the summary (each opens a form asking what changed), the publish button
 * of a public incident, and the checklists (each tick records who and when).
 * Who may do what, and where: src/incidents/access.ts. Refusals go only to the
 * person who clicked; nothing changes when the input is wrong or not theirs.
 */
export function registerIncidentActions(app: App, deps: IncidentActionDeps): void {
  const log = deps.logger.child({ component: 'incident-actions' });
  const { access } = deps;
  const clickedIn = (body: BlockAction): string | undefined => body.channel?.id ?? (body.container.channel_id as string | undefined);

  app.view(INCIDENT_VIEWS.declare, async ({ ack, body, view, client }) => {
    const state = ViewState.safeParse(view.state.values);
    const meta = DeclareMeta.safeParse(safeJson(view.private_metadata));
    if (!state.success || !meta.success) {
      await ack({ response_action: 'errors', errors: { title: 'This form could not be read; close it and run /dr declare again.' } });
      return;
    }
    const field = (block: string) => state.data[block]?.value;
    const services = (field('services')?.value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    try {
      const incident = await deps.incidents.declare({
        scenario: field('scenario')?.selected_option?.value ?? '',
        title: field('title')?.value ?? '',
        severity: field('severity')?.selected_option?.value ?? 'sev1',
        public: !(field('visibility')?.selected_options ?? []).some((o) => o.value === 'private'),
        requester: body.user.id,
        form: meta.data.form,
        // The view id is the same when Slack retries a submission: it declares once.
        dedupeKey: `view-${view.id}`,
        affectedServices: services,
        impact: field('impact')?.value ?? '',
        commander: field('commander')?.selected_user ?? body.user.id,
      }, access.declareCheck());
      await ack();
      await client.chat
        .postEphemeral({ channel: incident.originChannel, user: body.user.id, text: `:rotating_light: Declared *${escapeMrkdwn(incident.title)}* (\`${incident.id}\`). Opening #${incident.channelName}: you are invited, the summary is pinned there${incident.public ? '; nothing goes to the status page until a publisher presses Publish on the summary' : ''}.` })
        .catch((err: unknown) => {
          log.debug({ err: errorMessage(err) }, 'could not confirm the declaration privately');
        });
    } catch (err) {
      if (!isUserError(err)) {
        log.error({ err: errorMessage(err) }, 'declaration failed');
        await ack({ response_action: 'errors', errors: { title: slackErrorCode(err) ? `Nothing was declared. ${plainFromMrkdwn(explainSlackError(err))}` : 'The bot could not reach its state store; nothing was declared. Try again in a moment.' } });
        return;
      }
      await ack({ response_action: 'errors', errors: { [err.field ?? 'title']: plainFromMrkdwn(err.message) } });
    }
  });

  app.action<BlockAction<ButtonAction>>(new RegExp(`^${INCIDENT_ACTIONS.status.replace('.', '\\.')}\\.`), async ({ ack, body, action, client, respond, context }) => {
    await ack();
    const match = STATUS_VALUE.exec(action.value ?? '');
    const incident = match ? await deps.store.get(match[1] ?? '') : undefined;
    if (!match || !incident) {
      await whisper(respond, ':warning: This button does not name an incident. Use `/dr status` in the incident channel.');
      return;
    }
    const to = match[2] as IncidentState;
    const actor = checkedActor(context).id;
    const channel = clickedIn(body);
    try {
      await access.mayChangeStatus(incident, actor, channel, to);
    } catch (err) {
      if (!isUserError(err)) throw err;
      log.info({ incidentId: incident.id, user: actor, outcome: 'refused' }, 'status button refused');
      await whisper(respond, `:no_entry: ${err.message}`);
      return;
    }
    // The buttons live on the pinned summary; a copy elsewhere (a forwarded message, a forged click) is not one.
    if (incident.summaryTs && body.container.message_ts !== incident.summaryTs) {
      await whisper(respond, `:warning: Use the buttons on the pinned summary in <#${incident.channelId ?? ''}>, or \`/dr status\` there. Nothing changed.`);
      return;
    }
    if (!INCIDENT_TRANSITIONS[incident.state].includes(to)) {
      await whisper(
        respond,
        incident.state === to
          ? `:warning: The incident is already ${to} (this button is from before the last change). Nothing changed.`
          : `:warning: The incident is ${incident.state} now; it cannot become ${to}. Nothing changed.`,
      );
      return;
    }
    try {
      await withTimeout(client.views.open({ trigger_id: body.trigger_id, view: renderStatusModal(incident, to, channel ?? '') }), OPEN_TIMEOUT_MS, 'Opening the form');
    } catch (err) {
      log.warn({ incidentId: incident.id, err: errorMessage(err) }, 'could not open the status form');
      await whisper(respond, `:warning: The form did not open in time. Use \`/dr status ${to} "what changed"\` in this channel.`);
    }
  });

  app.view(INCIDENT_VIEWS.status, async ({ ack, view, context }) => {
    const meta = StatusMeta.safeParse(safeJson(view.private_metadata));
    const message = ViewState.safeParse(view.state.values).data?.message?.value.value ?? '';
    if (!meta.success) {
      await ack({ response_action: 'errors', errors: { message: 'This form could not be read; use /dr status in the incident channel.' } });
      return;
    }
    const actor = checkedActor(context).id;
    try {
      // Checked again on submission: roles and the commander may have changed since the button was clicked.
      const incident = await deps.incidents.transitionById(meta.data.incidentId, meta.data.state, message, actor, access.statusCheck(actor, meta.data.channel));
      await ack();
      log.info({ incidentId: incident.id, state: incident.state, user: actor }, 'incident status set from the summary');
    } catch (err) {
      if (!isUserError(err)) {
        log.error({ err: errorMessage(err) }, 'status change failed');
        await ack({ response_action: 'errors', errors: { message: slackErrorCode(err) ? `Nothing changed. ${plainFromMrkdwn(explainSlackError(err))}` : 'The bot could not reach its state store; nothing changed. Try again in a moment.' } });
        return;
      }
      await ack({ response_action: 'errors', errors: { message: plainFromMrkdwn(err.message) } });
    }
  });

  const toggle = (actionId: string, checked: boolean) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, respond, context }) => {
      await ack();
      const match = CHECK_VALUE.exec(action.value ?? '');
      const incidentId = match?.[1] ?? '';
      const list = match?.[2] as ChecklistKind | undefined;
      const items = list ? deps.templates.checklist(list) : [];
      const index = Number(match?.[3] ?? -1);
      const item = items[index];
      const incident = match && list && item !== undefined ? await deps.store.get(incidentId) : undefined;
      if (!match || !list || item === undefined || !incident) {
        await whisper(respond, ':warning: This checklist item is not part of an incident any more. Nothing changed.');
        return;
      }
      const actor = checkedActor(context).id;
      const at = Date.now();
      let stored = false;
      try {
        await access.mayTick(incident, actor);
        if (!checked && (await deps.store.checks(incidentId, list)).get(index)?.auto) {
          await whisper(respond, `:no_entry: "${escapeMrkdwn(item)}" was recorded by the bot when the incident was declared; it stays ticked. Nothing changed.`);
          return;
        }
        const changed = await deps.store.setCheck(incidentId, list, index, checked ? { by: actor, at } : null);
        stored = true;
        // A second click on a stale button changes nothing and adds nothing to the timeline.
        if (changed) await deps.store.appendTimeline(incidentId, { at, actor, text: `${checked ? 'checked' : 'unchecked'} "${item}" (${deps.templates.checklistTitle(list)})` });
        const ts = body.container.message_ts as string | undefined;
        const channel = body.channel?.id ?? (body.container.channel_id as string | undefined);
        if (changed) await deps.incidents.refresh(incidentId);
        if (ts && channel) {
          // The message of the part that holds the item: a long checklist is several messages.
          const message = renderChecklist(incidentId, list, deps.templates.checklistTitle(list), items, await deps.store.checks(incidentId, list), checklistPartOf(index));
          // The tick is stored by now: a refused redraw must say so, not ask for a click that would undo it.
          await client.chat.update({ channel, ts, text: message.text, blocks: message.blocks ?? [] }).catch(async (err: unknown) => {
            log.warn({ incidentId, slackError: slackErrorCode(err), err: errorMessage(err) }, 'checklist recorded, but its message was not redrawn');
            await whisper(respond, `:warning: "${escapeMrkdwn(item)}" is ${checked ? 'ticked' : 'unticked'} and recorded in the incident's timeline, but this checklist message could not be redrawn to show it. ${explainSlackError(err)}`);
          });
        }
      } catch (err) {
        if (isUserError(err)) {
          log.info({ incidentId, user: actor, outcome: 'refused' }, 'checklist tick refused');
          await whisper(respond, `:no_entry: ${err.message}`);
          return;
        }
        log.error({ incidentId, err: errorMessage(err) }, 'checklist update failed');
        const why = slackErrorCode(err) ? explainSlackError(err) : 'The bot could not reach its state store.';
        // Once the tick is stored, "try again" would be wrong: another click would undo it.
        await whisper(
          respond,
          stored
            ? `:warning: "${escapeMrkdwn(item)}" is ${checked ? 'ticked' : 'unticked'} and stored, but the rest did not follow (the timeline or the summary may lag). ${why}`
            : `:x: Nothing was recorded. ${slackErrorCode(err) ? why : `${why} Try again in a moment.`}`,
        );
      }
    });
  };
  toggle(INCIDENT_ACTIONS.check, true);
  toggle(INCIDENT_ACTIONS.uncheck, false);

  // The first public post: a publisher confirms (Slack's dialog showed the exact text); once, however often pressed.
  app.action<BlockAction<ButtonAction>>(INCIDENT_ACTIONS.publish, async ({ ack, body, action, client, respond, context }) => {
    await ack();
    const value = action.value ?? '';
    const incident = INCIDENT_VALUE.test(value) ? await deps.store.get(value) : undefined;
    if (!incident) {
      await whisper(respond, ':warning: This button does not name an incident. Nothing was published.');
      return;
    }
    const actor = checkedActor(context).id;
    try {
      if (!incident.public) throw new UserError('This incident is private: it never goes to the status page. Nothing was published.');
      await access.mayPublish(incident, actor, clickedIn(body));
      const res = await deps.incidents.publish(incident.id, actor);
      if (!res.first) {
        const when = res.at ? ` at ${new Date(res.at).toISOString().slice(11, 16)} UTC` : '';
        await whisper(respond, res.by ? `:information_source: Already published by <@${res.by}>${when}; nothing more was sent.` : ':information_source: This incident is already on the status page; nothing more was sent.');
        return;
      }
      log.info({ incidentId: incident.id, user: actor }, 'incident published to the status page');
      await client.chat
        .postMessage({
          channel: incident.channelId ?? '',
          text: `:newspaper: <@${actor}> published *${escapeMrkdwn(incident.title)}* to the status page; the status changes made since follow, in order.`,
          // Said once: only the first publication gets here (publish answers `first` once).
          metadata: onceMetadata(`${incident.id}:published`),
        })
        .catch((err: unknown) => {
          log.debug({ err: errorMessage(err) }, 'could not announce the publication');
        });
    } catch (err) {
      if (isUserError(err)) {
        log.info({ incidentId: incident.id, user: actor, outcome: 'refused' }, 'publish refused');
        await whisper(respond, `:no_entry: ${err.message}`);
        return;
      }
      log.error({ incidentId: incident.id, err: errorMessage(err) }, 'publishing failed');
      await whisper(respond, slackErrorCode(err) ? `:x: Nothing was published. ${explainSlackError(err)}` : ':x: The bot could not reach its state store; nothing was published. Try again in a moment.');
    }
  });
}

async function whisper(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text }).catch(() => undefined);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
