import type { AllMiddlewareArgs, AnyMiddlewareArgs, App } from '@slack/bolt';
import { z } from 'zod';
import { actorRefusal, type Installation, requestRefusal } from '../access/actor.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { withTimeout } from '../queue/connection.ts';
import type { SlackDirectory } from './directory.ts';

/** Who is acting, once the guard has checked them; listeners read it from `context.actor`. */
export interface CheckedActor {
  id: string;
  name: string;
  via: 'slack';
}

export function checkedActor(context: Record<string, unknown>): CheckedActor {
  const actor = context.actor as CheckedActor | undefined;
  // The guard runs before every listener; a listener without an actor is a wiring bug, not a user error.
  if (!actor) throw new Error('request reached a listener without a checked actor');
  return actor;
}

/** The fields that say where a request comes from, in every payload shape Slack sends. */
const Envelope = z.object({
  // Slash commands
  user_id: z.string().optional(),
  team_id: z.string().optional(),
  enterprise_id: z.string().optional(),
  api_app_id: z.string().optional(),
  // Interactions
  user: z.object({ id: z.string(), team_id: z.string().optional() }).loose().optional(),
  team: z.object({ id: z.string() }).loose().nullish(),
  enterprise: z.object({ id: z.string() }).loose().nullish(),
  view: z.object({ blocks: z.array(z.object({ type: z.string(), block_id: z.string().optional() }).loose()).optional() }).loose().optional(),
  // Events API
  event: z.object({ user: z.string().optional(), bot_id: z.string().optional() }).loose().optional(),
}).loose();

/** Slack's users.info is fast; this leaves room inside the 3-second window. */
const LOOKUP_TIMEOUT_MS = 1_500;

export interface GuardDeps {
  directory: SlackDirectory;
  /** Undefined until Slack's auth.test has answered once. */
  installation: () => Installation | undefined;
  logger: Logger;
}

/**
 * Runs before every listener: the request must be for this installation, and
 * the person acting a full member of it (users.info, cached for a minute).
 * Anything else is refused with its reason, privately, and reaches no listener.
 */
export function registerGuard(app: App, deps: GuardDeps): void {
  app.use(async (args) => {
    const parsed = Envelope.safeParse(args.body);
    const body = parsed.success ? parsed.data : {};
    const userId = body.user_id ?? body.user?.id ?? body.event?.user;
    const log = deps.logger.child({ component: 'guard', user: userId });
    const installation = deps.installation();
    let refusal: string | undefined;
    if (!installation) refusal = 'DR ChatOps cannot check who you are right now (Slack has not confirmed its token yet). Nothing was done; try again in a minute.';
    else {
      refusal = requestRefusal(
        {
          ...(body.team_id ?? body.team?.id ? { teamId: body.team_id ?? body.team?.id } : {}),
          ...(body.enterprise_id ?? body.enterprise?.id ? { enterpriseId: body.enterprise_id ?? body.enterprise?.id } : {}),
          ...(body.api_app_id ? { appId: body.api_app_id } : {}),
          ...(body.event?.bot_id ? { botId: body.event.bot_id } : {}),
        },
        installation,
      );
      if (!refusal && !userId) refusal = 'Slack sent this request without saying who made it, so nothing was done.';
      if (!refusal && userId) {
        try {
          const user = await withTimeout(deps.directory.user(userId), LOOKUP_TIMEOUT_MS, 'Looking up who you are');
          refusal = actorRefusal(user, installation);
          if (!refusal) args.context.actor = { id: user.id, name: user.name, via: 'slack' } satisfies CheckedActor;
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'could not look up the acting user');
          refusal = 'DR ChatOps could not check who you are with Slack just now. Nothing was done; try again in a moment.';
        }
      }
    }
    if (!refusal) {
      await args.next();
      return;
    }
    log.info({ outcome: 'refused', reason: refusal }, 'request refused by the guard');
    await answer(args, refusal, body.view?.blocks?.find((b) => b.type === 'input')?.block_id);
  });
}

/** Tells the person why, the way their kind of request can be answered. */
async function answer(args: AnyMiddlewareArgs & AllMiddlewareArgs, text: string, inputBlock: string | undefined): Promise<void> {
  const ack = 'ack' in args && typeof args.ack === 'function' ? (args.ack as (response?: unknown) => Promise<void>) : undefined;
  const respond = 'respond' in args && typeof args.respond === 'function' ? args.respond : undefined;
  const message = `:no_entry: ${text}`;
  try {
    if ('command' in args) {
      await ack?.({ response_type: 'ephemeral', text: message });
    } else if ('view' in args && args.body.type === 'view_submission') {
      await ack?.(inputBlock ? { response_action: 'errors', errors: { [inputBlock]: text } } : undefined);
    } else {
      await ack?.();
      await respond?.({ response_type: 'ephemeral', replace_original: false, text: message });
    }
  } catch {
    // Nothing more can be told: the refusal is logged above.
  }
}
