import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { errorMessage, isUserError } from '../../errors.ts';
import { INCIDENT_STATES, INCIDENT_TRANSITIONS, type IncidentState } from '../../incidents/model.ts';
import { SCENARIO_IDS, type ScenarioTargets } from '../../incidents/scenarios.ts';
import type { IncidentService } from '../../incidents/service.ts';
import type { IncidentStore } from '../../incidents/store.ts';
import type { ChecklistKind, Templates } from '../../incidents/templates.ts';
import type { Logger } from '../../log/logger.ts';
import { withTimeout } from '../../queue/connection.ts';
import { formatDuration } from '../../util/duration.ts';
import { INCIDENT_ACTIONS, INCIDENT_VIEWS, renderChecklist, renderDeclareModal, renderStatusModal } from '../views/incident.ts';

export interface IncidentActionDeps {
  incidents: IncidentService;
  store: IncidentStore;
  templates: Templates;
  /** Services with a status page component, offered in the declaration form. */
  services: readonly string[];
  logger: Logger;
}

/** Opening a modal must happen inside the trigger's 3 seconds. */
const OPEN_TIMEOUT_MS = 2_000;

/** Opens the declaration form (`/dr declare` with no arguments). */
export async function openDeclareForm(client: WebClient, triggerId: string, declarer: string, originChannel: string, services: readonly string[], targets: ScenarioTargets): Promise<void> {
  const scenarios = SCENARIO_IDS.map((id) => {
    const s = targets[id];
    return { id, title: s.title, rto: formatDuration(s.rtoMs), rpo: s.rpoMs === 0 ? '0' : formatDuration(s.rpoMs) };
  });
  await withTimeout(client.views.open({ trigger_id: triggerId, view: renderDeclareModal({ scenarios, declarer, services, originChannel }) }), OPEN_TIMEOUT_MS, 'Opening the form');
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
const DeclareMeta = z.object({ channel: z.string() });
const StatusMeta = z.object({ incidentId: z.string(), state: z.enum(INCIDENT_STATES) });
const CHECK_VALUE = /^([\w-]{1,100})\|(checklistDuring|checklistAfter)\|(\d{1,2})$/;
const STATUS_VALUE = /^([\w-]{1,100})\|(investigating|identified|monitoring|resolved)$/;

/**
 * The incident's interactive parts: the declaration form, the status buttons
 * on the summary (each opens a form asking what changed), and the checklists
 * (each tick records who and when). Refusals go only to the person who
 * clicked; nothing changes when the input is wrong.
 */
export function registerIncidentActions(app: App, deps: IncidentActionDeps): void {
  const log = deps.logger.child({ component: 'incident-actions' });

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
        originChannel: meta.data.channel,
        // The view id is the same when Slack retries a submission: it declares once.
        dedupeKey: `view-${view.id}`,
        affectedServices: services,
        impact: field('impact')?.value ?? '',
        commander: field('commander')?.selected_user ?? body.user.id,
      });
      await ack();
      await client.chat
        .postEphemeral({ channel: meta.data.channel, user: body.user.id, text: `:rotating_light: Declared *${incident.title.replace(/[<>&]/g, '')}* (\`${incident.id}\`). Opening #${incident.channelName}: you are invited, the summary is pinned there.` })
        .catch((err: unknown) => {
          log.debug({ err: errorMessage(err) }, 'could not confirm the declaration privately');
        });
    } catch (err) {
      if (!isUserError(err)) {
        log.error({ err: errorMessage(err) }, 'declaration failed');
        await ack({ response_action: 'errors', errors: { title: 'The bot could not reach its state store; nothing was declared. Try again in a moment.' } });
        return;
      }
      await ack({ response_action: 'errors', errors: { [err.field ?? 'title']: err.message.replace(/`/g, '') } });
    }
  });

  app.action<BlockAction<ButtonAction>>(new RegExp(`^${INCIDENT_ACTIONS.status.replace('.', '\\.')}\\.`), async ({ ack, body, action, client, respond }) => {
    await ack();
    const match = STATUS_VALUE.exec(action.value ?? '');
    const incident = match ? await deps.store.get(match[1] ?? '') : undefined;
    if (!match || !incident) {
      await whisper(respond, ':warning: This button does not name an incident. Use `/dr status` in the incident channel.');
      return;
    }
    const to = match[2] as IncidentState;
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
      await withTimeout(client.views.open({ trigger_id: body.trigger_id, view: renderStatusModal(incident, to) }), OPEN_TIMEOUT_MS, 'Opening the form');
    } catch (err) {
      log.warn({ incidentId: incident.id, err: errorMessage(err) }, 'could not open the status form');
      await whisper(respond, `:warning: The form did not open in time. Use \`/dr status ${to} "what changed"\` in this channel.`);
    }
  });

  app.view(INCIDENT_VIEWS.status, async ({ ack, body, view }) => {
    const meta = StatusMeta.safeParse(safeJson(view.private_metadata));
    const message = ViewState.safeParse(view.state.values).data?.message?.value.value ?? '';
    if (!meta.success) {
      await ack({ response_action: 'errors', errors: { message: 'This form could not be read; use /dr status in the incident channel.' } });
      return;
    }
    try {
      const incident = await deps.incidents.transitionById(meta.data.incidentId, meta.data.state, message, body.user.id);
      await ack();
      log.info({ incidentId: incident.id, state: incident.state, user: body.user.id }, 'incident status set from the summary');
    } catch (err) {
      if (!isUserError(err)) {
        log.error({ err: errorMessage(err) }, 'status change failed');
        await ack({ response_action: 'errors', errors: { message: 'The bot could not reach its state store; nothing changed. Try again in a moment.' } });
        return;
      }
      await ack({ response_action: 'errors', errors: { message: err.message.replace(/`/g, '') } });
    }
  });

  const toggle = (actionId: string, checked: boolean) => {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, respond }) => {
      await ack();
      const match = CHECK_VALUE.exec(action.value ?? '');
      const incidentId = match?.[1] ?? '';
      const list = match?.[2] as ChecklistKind | undefined;
      const items = list ? deps.templates.checklist(list) : [];
      const index = Number(match?.[3] ?? -1);
      const item = items[index];
      if (!match || !list || item === undefined || !(await deps.store.get(incidentId))) {
        await whisper(respond, ':warning: This checklist item is not part of an incident any more. Nothing changed.');
        return;
      }
      const at = Date.now();
      try {
        const changed = await deps.store.setCheck(incidentId, list, index, checked ? { by: body.user.id, at } : null);
        // A second click on a stale button changes nothing and adds nothing to the timeline.
        if (changed) await deps.store.appendTimeline(incidentId, { at, actor: body.user.id, text: `${checked ? 'checked' : 'unchecked'} "${item}" (${deps.templates.checklistTitle(list)})` });
        const ts = body.container.message_ts as string | undefined;
        const channel = body.channel?.id ?? (body.container.channel_id as string | undefined);
        if (ts && channel) {
          const message = renderChecklist(incidentId, list, deps.templates.checklistTitle(list), items, await deps.store.checks(incidentId, list));
          await client.chat.update({ channel, ts, text: message.text, blocks: message.blocks ?? [] });
        }
        if (changed) await deps.incidents.refresh(incidentId);
      } catch (err) {
        log.error({ incidentId, err: errorMessage(err) }, 'checklist update failed');
        await whisper(respond, ':x: That did not go through; try again.');
      }
    });
  };
  toggle(INCIDENT_ACTIONS.check, true);
  toggle(INCIDENT_ACTIONS.uncheck, false);
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
