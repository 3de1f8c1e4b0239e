/**
 * What Bolt can be handed without tripping over it. Pure checks, shared by the
 * HTTP front handler (src/slack/front.ts) and the Socket Mode envelope guard.
 *
 * Why they exist: Bolt's HTTPReceiver parses the body (`payload=<json>` or a JSON
 * body) and then reads `body.ssl_check` outside any try block, in an async
 * function nobody awaits. A signed `payload=null` (or a JSON body `null`) makes
 * that a TypeError, an unhandled rejection, and on Node ≥ 15 the end of the
 * process. Other shapes (`1`, `"x"`, `[]`, `{}`, no `type`) get through to
 * `App.processEvent`, which finds no type, acknowledges nothing, and leaves the
 * request hanging for 3 s until Bolt answers 404; shapes with a `null` where Bolt
 * expects an object (`event`, `user`, `channel`, `view`…) throw inside it (500).
 * The Socket Mode client reads `event.type` and `payload.event.type` of every
 * WebSocket message the same way. These checks say, before Bolt sees a body,
 * whether it is one Bolt handles; each answer is a reason or undefined.
 */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Absent, or an object (Bolt reads `.id` & co. of these whenever they are not undefined). */
function objectOrAbsent(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  return value === undefined || isRecord(value) ? undefined : `\`${key}\` is ${describe(value)}, not an object`;
}

/** Fields of a slash command that Bolt or the listeners read as strings. */
const COMMAND_STRING_FIELDS = ['command', 'text', 'user_id', 'channel_id', 'team_id', 'enterprise_id', 'response_url', 'trigger_id', 'api_app_id'];

/** A slash command (form fields, or the Socket Mode payload with the same fields). */
function commandProblem(body: Record<string, unknown>): string | undefined {
  for (const key of COMMAND_STRING_FIELDS) {
    const value = body[key];
    // Repeated form keys arrive as arrays; Slack never repeats them.
    if (value !== undefined && typeof value !== 'string') return `\`${key}\` of a slash command is ${describe(value)}, not a string`;
  }
  return typeof body.command === 'string' && body.command.startsWith('/') ? undefined : 'a slash command whose `command` does not start with /';
}

/** An Events API delivery (`event_callback`): the parts Bolt reads before any listener runs. */
function eventProblem(body: Record<string, unknown>): string | undefined {
  const { event } = body;
  if (!isRecord(event)) return `\`event\` is ${describe(event)}, not an object`;
  if (typeof event.type !== 'string' || event.type === '') return 'the event has no type';
  if (event.user !== undefined && typeof event.user !== 'string' && !isRecord(event.user)) return `\`event.user\` is ${describe(event.user)}`;
  if (event.channel !== undefined && typeof event.channel !== 'string' && !isRecord(event.channel)) return `\`event.channel\` is ${describe(event.channel)}`;
  for (const key of ['item', 'subteam']) {
    const problem = objectOrAbsent(event, key);
    if (problem) return `in the event, ${problem}`;
  }
  const { authorizations } = body;
  if (authorizations !== undefined && !(Array.isArray(authorizations) && authorizations.every(isRecord))) return '`authorizations` is not a list of objects';
  return undefined;
}

/** Interactions (buttons, forms, shortcuts, options): Bolt reads `user.id`, `team.id`, `channel.id`, `view.…`, `actions[0]`. */
function interactionProblem(body: Record<string, unknown>, type: string): string | undefined {
  if (!isRecord(body.user)) return `\`user\` of a ${type} is ${describe(body.user)}, not an object`;
  const channel = objectOrAbsent(body, 'channel');
  if (channel) return channel;
  // `team` (and `enterprise`) are null for org-wide installs; Bolt then reads user.team_id.
  for (const key of ['team', 'enterprise']) {
    if (body[key] !== null && objectOrAbsent(body, key)) return `\`${key}\` is ${describe(body[key])}, not an object`;
  }
  if (body.actions !== undefined && !(Array.isArray(body.actions) && body.actions.length > 0 && body.actions.every(isRecord))) {
    return '`actions` is not a non-empty list of objects';
  }
  if ((type === 'view_submission' || type === 'view_closed') && !isRecord(body.view)) return `\`view\` of a ${type} is ${describe(body.view)}, not an object`;
  return undefined;
}

/** The interaction types Bolt routes (App.getTypeAndConversation); anything else reaches no listener. */
const INTERACTION_TYPES = new Set([
  'block_actions',
  'interactive_message',
  'dialog_submission',
  'dialog_suggestion',
  'block_suggestion',
  'shortcut',
  'message_action',
  'view_submission',
  'view_closed',
]);

/**
 * Why a signed body asks for nothing, or undefined when it may: an interaction
 * whose `actions` list is empty names no button to act on. It is acknowledged
 * empty (Slack shows the person no error) rather than refused, and reaches no
 * listener (Bolt reads `actions[0]` of it).
 */
export function nothingAsked(body: unknown): string | undefined {
  if (!isRecord(body) || typeof body.type !== 'string' || !INTERACTION_TYPES.has(body.type)) return undefined;
  return Array.isArray(body.actions) && body.actions.length === 0 ? `a ${body.type.slice(0, 40)} with an empty \`actions\` list` : undefined;
}

/**
 * What Slack expects as the acknowledgement of a request no listener
 * answered: an empty options list for an options request (a select menu
 * still loading), nothing for anything else (a view submission without
 * errors closes the view).
 */
export function emptyAnswer(body: unknown): Record<string, unknown> | undefined {
  if (!isRecord(body)) return undefined;
  if (body.type === 'block_suggestion' || body.type === 'dialog_suggestion') return { options: [] };
  return undefined;
}

/**
 * Why Bolt cannot handle this parsed request body (HTTP: the form fields or the
 * JSON; Socket Mode: an envelope's payload), or undefined when it can.
 */
export function slackBodyProblem(body: unknown): string | undefined {
  if (!isRecord(body)) return `the body is ${describe(body)}, not an object`;
  if (body.ssl_check === '1') return undefined;
  if ('command' in body) return commandProblem(body);
  const { type } = body;
  if (typeof type !== 'string' || type === '') return 'the body has no type';
  if (type === 'url_verification') return typeof body.challenge === 'string' ? undefined : 'a url_verification without a challenge';
  if (type === 'event_callback' || 'event' in body) return eventProblem(body);
  if (INTERACTION_TYPES.has(type)) return interactionProblem(body, type);
  return `type ${JSON.stringify(type.slice(0, 40))} is not one the bot handles`;
}

/** Slack's signatures are valid for 5 minutes; Bolt checks only the past side of that. */
export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

/**
 * Why an `X-Slack-Request-Timestamp` header is refused before Bolt sees it: not
 * a plain integer (Bolt's `Number()` takes `1e9`, ` 1764000000`, `1764000000.5`),
 * or more than 5 minutes in the future (Bolt refuses only old ones).
 */
export function timestampProblem(header: string | string[], nowMs: number): string | undefined {
  if (typeof header !== 'string' || !/^[1-9][0-9]{0,11}$/.test(header)) return 'is not a plain integer (Unix seconds)';
  if (Number(header) > Math.floor(nowMs / 1000) + MAX_CLOCK_SKEW_SECONDS) return 'is more than 5 minutes in the future';
  return undefined;
}

/** The Socket Mode envelopes that carry app payloads. */
const ENVELOPE_TYPES = new Set(['events_api', 'slash_commands', 'interactive']);
/** Control messages the Socket Mode client handles itself. */
const CONTROL_TYPES = new Set(['hello', 'disconnect']);
/**
 * The Socket Mode client emits each event's type as an EventEmitter event; these
 * names are its own (state changes, errors, the raw message) and must not be faked.
 */
const RESERVED_EVENT_NAMES = new Set([
  'error',
  'newListener',
  'removeListener',
  'close',
  'ws_message',
  'slack_event',
  'outgoing_message',
  'connecting',
  'connected',
  'reconnecting',
  'disconnecting',
  'disconnected',
  'authenticated',
  'unable_to_socket_mode_start',
  ...ENVELOPE_TYPES,
  ...CONTROL_TYPES,
]);

/** Why a parsed Socket Mode WebSocket message cannot be handed to the client, or undefined when it can. */
export function socketEnvelopeProblem(message: unknown): string | undefined {
  if (!isRecord(message)) return `the message is ${describe(message)}, not an object`;
  const { type } = message;
  if (typeof type === 'string' && CONTROL_TYPES.has(type)) return undefined;
  if (typeof type !== 'string' || !ENVELOPE_TYPES.has(type)) return `envelope type ${JSON.stringify(String(type).slice(0, 40))} is not one the bot handles`;
  if (typeof message.envelope_id !== 'string' || message.envelope_id === '') return 'the envelope has no envelope_id';
  const { payload } = message;
  if (type === 'events_api' && !(isRecord(payload) && 'event' in payload)) return 'an events_api envelope without an event';
  const problem = slackBodyProblem(payload);
  if (problem) return `its payload: ${problem}`;
  if (type === 'events_api' && isRecord(payload) && isRecord(payload.event) && RESERVED_EVENT_NAMES.has(String(payload.event.type))) {
    return `event type ${JSON.stringify(payload.event.type)} is reserved`;
  }
  return undefined;
}
