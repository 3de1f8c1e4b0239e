import type { App, RespondArguments, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { isUserError, UserError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../observe/metrics.ts';
import { withTimeout } from '../../queue/connection.ts';
import type { BotTaskProducer } from '../../queue/producer.ts';
import type { IncidentService } from '../../incidents/service.ts';
import type { RunService } from '../../runs/service.ts';
import type { RunStore } from '../../runs/store.ts';
import { explainSlackError } from '../errors.ts';
import { onceMetadata } from '../post-once.ts';
import { parseDrCommand } from '../grammar.ts';
import type { RunMessageNotifier } from '../notifier.ts';
import { renderAudit } from '../views/audit.ts';
import { renderHelp } from '../views/help.ts';
import { escapeMrkdwn, type SlackMessage } from '../views/message.ts';
import { renderRunbookList, renderRunList } from '../views/lists.ts';
import { renderRunMessage, renderRunStepsPage } from '../views/run.ts';
import { stepPageCount } from '../views/run-steps.ts';
import { openDeclareForm } from './incident-actions.ts';
import { groupsToAsk, type Identity } from '../../runs/admission.ts';
import type { IncidentAccess } from '../../incidents/access.ts';
import type { Limit, RateLimiter } from '../../runs/rate-limit.ts';
import type { Run } from '../../runs/model.ts';
import { formatDuration } from '../../util/duration.ts';
import type { SlackDirectory } from '../directory.ts';
import { checkedActor } from '../guard.ts';
import { identityOf, placeOf, type SlackPlace } from '../request-context.ts';
import { ephemeralText } from '../views/ephemeral.ts';
import type { ReadinessStore } from '../../readiness/store.ts';
import { renderReadinessStatus } from '../views/readiness.ts';
import type { DrillStore } from '../../drills/store.ts';
import { renderDrills } from '../views/drills.ts';
import type { ScheduleService } from '../../schedules/service.ts';
import { answerScheduleCommand } from './schedule-command.ts';
import type { IncidentOf } from '../../reports/follower.ts';
import { recoveryReportFilename, renderRecoveryMarkdown } from '../../reports/markdown.ts';
import { buildRecoveryReport, isReportable } from '../../reports/recovery.ts';
import type { ScenarioTargets } from '../../incidents/scenarios.ts';
import { shareFileOnce } from '../file-once.ts';
import { renderRecoveryReportAnswer } from '../views/recovery-report.ts';

export interface DrCommandDeps {
  slash: string;
  incidents: IncidentService;
  producer: BotTaskProducer;
  store: RunStore;
  service: RunService;
  notifier: RunMessageNotifier;
  /** Who may change an incident, and where (src/incidents/access.ts). */
  incidentAccess: IncidentAccess;
  directory: SlackDirectory;
  limiter: RateLimiter;
  limits: { runsPerUser: number; runsTotal: number };
  /** Services with a status page component, offered in the declaration form. */
  services: readonly string[];
  metrics: Pick<Metrics, 'commandAnswered'>;
  /** The latest readiness results, for `/dr check status`. */
  readiness: Pick<ReadinessStore, 'latest'>;
  /** `/dr schedule …` (absent: the command says schedules are not set up here). */
  schedules?: ScheduleService;
  /** The drill record, for `/dr drills` (absent: the command says there is none here). */
  drills?: Pick<DrillStore, 'results'>;
  /** `/dr report <run>`: the objectives in force and the incident a run belongs to (absent: the command says reports are not set up here). */
  reports?: { objectives: ScenarioTargets; incident: IncidentOf };
  logger: Logger;
}

/** Reads before the ack must leave room inside Slack's 3-second window. */
const READ_TIMEOUT_MS = 1_500;

/**
 * `/dr …`: parse, check, then ack within Slack's 3-second window. Errors and
 * read-only answers are the ephemeral ack itself; a run request is validated
 * before the ack (nothing is stored when it is wrong) and planned after it,
 * because planning calls AWS and Kubernetes.
 */
export function registerDrCommand(app: App, deps: DrCommandDeps): void {
  const { slash, producer, store, service, logger } = deps;
  app.command(slash, async ({ command, ack: slackAck, respond, client, context }) => {
    const received = performance.now();
    const log = logger.child({ user: command.user_id, channel: command.channel_id });
    let name = 'invalid';
    let outcome: 'ok' | 'refused' | 'error' = 'ok';
    const ack = async (response?: RespondArguments) => {
      await slackAck(response);
      deps.metrics.commandAnswered(name, outcome, (performance.now() - received) / 1_000);
    };
    const fail = async (err: unknown) => {
      if (!isUserError(err)) throw err;
      outcome = 'refused';
      log.info({ outcome: 'rejected', reason: err.message }, 'command rejected');
      await ack(ephemeral({ text: `:warning: ${err.message}` }));
    };
    let parsed;
    try {
      parsed = parseDrCommand(command.text, slash);
    } catch (err) {
      await fail(err);
      return;
    }
    name = parsed.name;
    const requester = checkedActor(context);
    const here = command.channel_id;
    const read = <T>(promise: Promise<T>) => withTimeout(promise, READ_TIMEOUT_MS, 'Reading run state');

    try {
      switch (parsed.name) {
        case 'help':
          await ack(ephemeral(renderHelp(slash, parsed.topic)));
          return;
        case 'runbooks':
          await ack(ephemeral(renderRunbookList(service.runbooks.values(), slash)));
          return;
        case 'runs':
          await ack(ephemeral(renderRunList((await read(store.list(50))).filter((r) => visibleIn(r, here)).slice(0, 15), slash)));
          return;
        case 'check-status':
          await ack(ephemeral(renderReadinessStatus(await read(deps.readiness.latest()), Date.now(), slash)));
          return;
        case 'drills': {
          if (!deps.drills) throw new UserError('The drill record is not set up on this bot. Nothing changed.');
          const all = await read(deps.drills.results(parsed.scenario ? { scenario: parsed.scenario } : {}));
          const listed = all.filter((d) => !d.private || d.channelId === here);
          await ack(ephemeral(renderDrills({ listed, all, now: Date.now(), slash, ...(parsed.scenario ? { scenario: parsed.scenario } : {}) })));
          return;
        }
        case 'show': {
          const run = visible(await read(service.mustGet(parsed.runId)), here, parsed.runId);
          if (parsed.page === undefined) {
            await ack(ephemeral(renderRunMessage(run, Date.now(), { live: false })));
            return;
          }
          const pages = stepPageCount(run);
          if (parsed.page > pages) throw new UserError(`Run \`${run.id}\` has ${run.plan.length} step${run.plan.length === 1 ? '' : 's'}: page${pages === 1 ? ' 1' : `s 1–${pages}`}. Try \`${slash} show ${run.id} page ${pages}\`.`);
          await ack(ephemeral(renderRunStepsPage(run, parsed.page, Date.now())));
          return;
        }
        case 'audit': {
          const run = visible(await read(service.mustGet(parsed.runId)), here, parsed.runId);
          await ack(ephemeral(renderAudit(run, await read(store.audit(run.id)))));
          return;
        }
        case 'report': {
          if (!deps.reports) throw new UserError('Recovery reports are not set up on this bot. Nothing changed.');
          const run = visible(await read(service.mustGet(parsed.runId)), here, parsed.runId);
          if (!isReportable(run)) throw new UserError(notReportable(run, slash));
          const incident = run.origin.incidentId ? await read(deps.reports.incident(run.origin.incidentId)) : undefined;
          const report = buildRecoveryReport(run, await read(store.audit(run.id)), { objectives: deps.reports.objectives, ...(incident ? { incident } : {}), now: Date.now() });
          if (!parsed.file) {
            await ack(ephemeral(renderRecoveryReportAnswer(report, slash)));
            return;
          }
          await ack(ephemeral({ text: `:page_facing_up: Sharing the recovery report of \`${run.id}\` here…` }));
          const file = { channel: here, filename: recoveryReportFilename(run.id), title: `Recovery report: ${run.runbookTitle} (${run.id})`, content: renderRecoveryMarkdown(report), contentType: 'text/markdown; charset=utf-8', comment: `Recovery report of \`${run.id}\`, as asked by <@${command.user_id}>.` };
          // Asked for again, shared again: each ask is its own file.
          await shareFileOnce(client, { attempted: () => Promise.resolve(false), markAttempted: () => Promise.resolve() }, file).catch(async (err: unknown) => {
            log.warn({ runId: run.id, err: err instanceof Error ? err.message : String(err) }, 'could not share a recovery report');
            await respond({ response_type: 'ephemeral', replace_original: false, text: ephemeralText(`:x: I could not share the report here. ${explainSlackError(err)}`) });
          });
          return;
        }
        case 'cancel': {
          const target = visible(await read(service.mustGet(parsed.runId)), here, parsed.runId);
          ownChannel(target, here, 'cancelled');
          const run = await service.cancel(target.id, await identityOf(requester, groupsToAsk(target.policy, requester.id), deps.directory, READ_TIMEOUT_MS), parsed.reason);
          deps.notifier.track(run.id);
          await ack(ephemeral({ text: run.state === 'running' ? `:black_square_for_stop: Cancel requested: run \`${run.id}\` stops at its current step.` : `Run \`${run.id}\` is ${run.state}.` }));
          return;
        }
        case 'declare-form':
          try {
            await openDeclareForm(client, command.trigger_id, command.user_id, command.channel_id, deps.services, deps.incidents);
          } catch (err) {
            log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not open the declaration form');
            outcome = 'error';
            await ack(ephemeral({ text: ':warning: The declaration form did not open. Declare in one line instead: `/dr declare <scenario> <title…>`, e.g. `/dr declare region-outage "API down in us-east-1"`.' }));
            return;
          }
          await ack();
          return;
        case 'declare': {
          const incident = await deps.incidents.declare({
            scenario: parsed.scenario,
            title: parsed.title,
            public: parsed.public,
            requester: command.user_id,
            originChannel: command.channel_id,
            dedupeKey: command.trigger_id || `${command.channel_id}-${command.user_id}-${parsed.title}`,
            ...(parsed.severity ? { severity: parsed.severity } : {}),
            ...(parsed.services ? { affectedServices: parsed.services } : {}),
            ...(parsed.impact ? { impact: parsed.impact } : {}),
          }, deps.incidentAccess.declareCheck());
          await ack(
            ephemeral({
              text: `:rotating_light: Declared *${escapeMrkdwn(incident.title)}* (\`${incident.id}\`). Opening #${incident.channelName}: you are invited, the summary is pinned there${incident.public ? '; nothing goes to the status page until a publisher presses Publish on the summary' : ' (private: no status page)'}.`,
            }),
          );
          return;
        }
        case 'status': {
          // In the incident's own channel only, by its commander or a responder (src/incidents/access.ts).
          const incident = await deps.incidents.transition(here, parsed.state, parsed.message, requester.id, deps.incidentAccess.statusCheck(requester.id, here));
          const page = !incident.public ? '' : incident.publication === 'held' ? ' (the status page gets it once the incident is published)' : ' and on the status page';
          await ack(ephemeral({ text: `Status set to *${incident.state}*. The update is being posted here${page}.` }));
          return;
        }
        case 'ping': {
          const dedupeKey = command.trigger_id || `${command.channel_id}-${command.user_id}-${Date.now()}`;
          const jobId = await producer.enqueuePing(
            { channelId: command.channel_id, userId: command.user_id, requestedAt: Date.now(), ...(command.response_url ? { responseUrl: command.response_url } : {}) },
            dedupeKey,
          );
          log.info({ command: 'ping', jobId, outcome: 'queued' }, 'command queued');
          await ack(ephemeral({ text: ':satellite_antenna: Ping queued. A worker will answer in this channel.' }));
          return;
        }
        case 'schedule': {
          if (!deps.schedules) throw new UserError('Schedules are not set up on this bot. Nothing changed.');
          const answer = await answerScheduleCommand(parsed.command, requester, { channelId: here, channelName: command.channel_name }, { ...deps, schedules: deps.schedules, slash });
          await ack(ephemeral(answer));
          return;
        }
        case 'run': {
          const runbook = service.runbook(parsed.runbookId);
          // Who and where are checked before the parameters (service.check), and again when the run is created.
          const [where, who] = await Promise.all([
            placeOf(here, deps, READ_TIMEOUT_MS),
            identityOf(requester, service.requesterGroupsToAsk(runbook, requester.id), deps.directory, READ_TIMEOUT_MS),
          ]);
          service.check({ runbookId: runbook.id, params: parsed.params, requester: who, place: where.place });
          // Slack retries and Socket Mode redeliveries carry the same trigger id: one request, one run.
          const alreadyReceived = () => ack(ephemeral({ text: 'This request was already received (Slack delivered it again); its plan is posted once, in this channel.' }));
          const trigger = command.trigger_id ? `request:${command.trigger_id}` : undefined;
          if (trigger && !(await read(store.once(trigger, 3_600)))) {
            await alreadyReceived();
            return;
          }
          try {
            await read(takeRunRequest(deps.limiter, requester.id, deps.limits));
          } catch (err) {
            // Refused or not counted: nothing was requested, so a retry of this request may be.
            if (trigger) void store.release(trigger).catch(() => undefined);
            throw err;
          }
          await ack(ephemeral({ text: `:hourglass_flowing_sand: Planning *${escapeMrkdwn(runbook.title)}*… the plan will appear in this channel.` }));
          await planAndPost({ runbookId: runbook.id, params: parsed.params, dryRun: parsed.dryRun, requester: who, where, respond, client, deps, log });
          return;
        }
      }
    } catch (err) {
      if (isUserError(err)) {
        await fail(err);
        return;
      }
      log.error({ command: parsed.name, err: err instanceof Error ? err.message : String(err) }, 'command failed');
      outcome = 'error';
      await ack(
        ephemeral({
          text: ":x: Redis (the job queue and run state) is not reachable right now, so nothing was queued or changed. Try again in a moment; if it persists, check the bot's /readyz.",
        }),
      );
    }
  });
}

interface PlanAndPost {
  runbookId: string;
  params: Record<string, string | number | boolean>;
  dryRun: boolean;
  requester: Identity;
  /** The conversation asked in (its runs are shown only there when it is private). */
  where: SlackPlace;
  threadTs?: string;
  respond: RespondFn;
  client: WebClient;
  deps: Pick<DrCommandDeps, 'service' | 'store' | 'notifier'>;
  log: Logger;
}

/**
 * Plans the run (read-only calls), stores it, and posts its message in the
 * channel for the team to see and approve. A plan refused by a step answers
 * the requester privately and stores nothing.
 */
export async function planAndPost({ runbookId, params, dryRun, requester, where, threadTs, respond, client, deps, log }: PlanAndPost): Promise<void> {
  const channel = where.place.channelId;
  let run;
  try {
    const origin = { channelId: channel, private: where.private, ...(threadTs ? { threadTs } : {}), ...(where.incidentId ? { incidentId: where.incidentId } : {}) };
    run = await deps.service.create({ runbookId, params, requester, place: where.place, dryRun, origin });
  } catch (err) {
    const text = isUserError(err) ? `:warning: ${err.message}` : ':x: Planning failed for an internal reason; nothing was requested. The bot\'s logs have the details.';
    if (!isUserError(err)) log.error({ runbookId, err: err instanceof Error ? err.message : String(err) }, 'planning failed');
    await respond({ response_type: 'ephemeral', replace_original: false, text: ephemeralText(text) });
    return;
  }
  const message = renderRunMessage(run, Date.now());
  try {
    const posted = await client.chat.postMessage({ channel, text: message.text, blocks: message.blocks ?? [], ...(threadTs ? { thread_ts: threadTs } : {}), metadata: onceMetadata(`run:${run.id}:plan`) });
    if (posted.ts) await deps.store.setMessage(run.id, { channel, ts: posted.ts });
    deps.notifier.track(run.id);
    log.info({ runId: run.id, runbookId, outcome: run.state }, 'run requested');
  } catch (err) {
    // Without a message nobody can approve or follow it: withdraw the request.
    await deps.service.cancel(run.id, requester, 'the bot could not post the plan in this channel').catch(() => undefined);
    log.warn({ runId: run.id, err: err instanceof Error ? err.message : String(err) }, 'could not post the plan');
    await respond({
      response_type: 'ephemeral',
      replace_original: false,
      text: `:x: I could not post the plan here, so the request was withdrawn. ${explainSlackError(err)}`,
    });
  }
}

/** A run of a private channel exists, for anyone elsewhere, as little as a run that does not. */
export function visibleIn(run: Run, channel: string): boolean {
  return !run.origin.private || run.origin.channelId === channel;
}

function visible(run: Run, channel: string, asked: string): Run {
  if (!visibleIn(run, channel)) throw new UserError(`There is no run \`${asked.slice(0, 64)}\`. List recent runs with \`runs\`.`);
  return run;
}

/** Why a run has no recovery report: only changing runs that started have one. */
function notReportable(run: Run, slash: string): string {
  if (run.dryRun) return `Run \`${run.id}\` was a dry run: it changed nothing, so it has no recovery report. \`${slash} show ${run.id}\` shows what it would have done.`;
  if (run.policy.required === 0) return `Run \`${run.id}\` (${escapeMrkdwn(run.runbookId)}) needed no approval: it is read-only and has no recovery report. \`${slash} show ${run.id}\` shows its results.`;
  if (run.startedAt === undefined) return `Run \`${run.id}\` is ${run.state} and never started: nothing changed, so there is no recovery report.`;
  return `Run \`${run.id}\` is still ${run.state}: its recovery report is made when it ends. \`${slash} show ${run.id}\` follows it.`;
}

/** Decisions on a run are taken where the team sees it: in the run's own channel. */
export function ownChannel(run: Run, channel: string, wanted: string): void {
  const home = run.message?.channel ?? run.origin.channelId;
  if (home && home !== channel) throw new UserError(`Run \`${run.id}\` can be ${wanted} only in <#${home}>, where its plan was posted. Nothing changed.`);
}

/** Counts one run request (dry runs too) against the person's and the bot's limits, or says which is used up. */
export async function takeRunRequest(limiter: RateLimiter, userId: string, limits: { runsPerUser: number; runsTotal: number }): Promise<void> {
  const perUser: Limit = { key: `runs:user:${userId}`, max: limits.runsPerUser, windowMs: 60_000 };
  const total: Limit = { key: 'runs:all', max: limits.runsTotal, windowMs: 60_000 };
  const limited = await limiter.take([perUser, total]);
  if (limited.ok) return;
  throw new UserError(
    limited.limit === total
      ? `The bot is taking no more than ${total.max} run requests a minute right now; try again in ${formatDuration(limited.retryInMs)}. Nothing was requested.`
      : `You asked for ${perUser.max} runs within a minute, the most one person may; try again in ${formatDuration(limited.retryInMs)}. Nothing was requested.`,
  );
}

function ephemeral(message: SlackMessage): RespondArguments {
  return { response_type: 'ephemeral', ...message, text: ephemeralText(message.text) };
}
