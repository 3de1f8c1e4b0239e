/**
 * Composition root: config → clients → Slack bot and/or queue worker.
 * `npm start` runs both roles in one process; `--role bot` / `--role worker`
 * split them so workers can scale out against the same Redis.
 */
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { loadConfig, parseArgs, SLACK_SETUP_HELP } from './config/load.ts';
import { type Config, secretValues, slackMode } from './config/schema.ts';
import { ConfigError, errorMessage } from './errors.ts';
import { closeServer, healthRoutes, listeningPort, publicRoutes, startRouteServer } from './http/health.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { createRedisConnection, pingRedis, redisTargetOf, waitForConnection } from './queue/connection.ts';
import { BotTaskProducer } from './queue/producer.ts';
import { startBotTaskWorker, type WorkerHandle } from './queue/worker.ts';
import { processPing } from './slack/ping-job.ts';
import { createSlackApp, type SlackApp, SlackEventsDoor } from './slack/app.ts';
import { describeSlackState, isTokenRejected, SlackAuthMonitor } from './slack/auth-monitor.ts';
import { createSlackClient, createSlackProbeClient } from './slack/client.ts';
import { SLACK_FIRST_ANSWER_WAIT_MS, SlackFront } from './slack/startup.ts';
import { registerDrCommand } from './slack/listeners/dr-command.ts';
import { registerRunActions } from './slack/listeners/run-actions.ts';
import { registerGateActions } from './slack/listeners/gate-actions.ts';
import { registerAppHome } from './slack/listeners/app-home.ts';
import { RunMessageNotifier } from './slack/notifier.ts';
import { postKeyedMessage } from './slack/post-once.ts';
import { SlackDirectory } from './slack/directory.ts';
import { registerGuard } from './slack/guard.ts';
import { RateLimiter } from './runs/rate-limit.ts';
import { IncidentAccess } from './incidents/access.ts';
import { describeMembers } from './access/roles.ts';
import { RunbookLoadError, type RunbookSet } from './runbooks/load.ts';
import { loadRecovery } from './runbooks/recovery.ts';
import { RunStore } from './runs/store.ts';
import { RunService } from './runs/service.ts';
import { RunQueue } from './queue/run-queue.ts';
import { startRunWorker } from './queue/run-worker.ts';
import { Queue } from 'bullmq';
import { JOB_NAMES, QUEUE_NAMES } from './queue/names.ts';
import { IncidentService } from './incidents/service.ts';
import { IncidentStore } from './incidents/store.ts';
import { Templates, TemplateError } from './incidents/templates.ts';
import { scheduleIncidentClock, startIncidentWorker } from './incidents/worker.ts';
import { IncidentRunFollower } from './incidents/run-follower.ts';
import { ReadinessFollower } from './readiness/follower.ts';
import { lastReplicationLag } from './readiness/last-lag.ts';
import { ReadinessStore } from './readiness/store.ts';
import { createReadinessNotifier } from './slack/readiness-notifier.ts';
import { DrillFollower } from './drills/follower.ts';
import { DrillStore } from './drills/store.ts';
import { createDrillReporter } from './slack/drill-report.ts';
import { incidentsFrom, RecoveryReportFollower } from './reports/follower.ts';
import { createRecoveryReporter } from './slack/recovery-report.ts';
import { registerIncidentActions } from './slack/listeners/incident-actions.ts';
import { StatuspageClient } from './statuspage/client.ts';
import { Metrics } from './observe/metrics.ts';
import { StatuspageOutbox, startStatuspageWorker } from './statuspage/outbox.ts';
import { checkConfigSchedules } from './schedules/config.ts';
import { configSchedules } from './schedules/model.ts';
import { SCHEDULE_QUEUE, ScheduleQueue, startScheduleWorker } from './schedules/queue.ts';
import { ScheduleService } from './schedules/service.ts';
import { ScheduleStore } from './schedules/store.ts';
import { postScheduledRun } from './slack/scheduled-run.ts';
import { ShiftKeeper } from './zonal-shifts/keeper.ts';
import { ShiftKeeperQueue, startShiftKeeperWorker, ZONAL_SHIFT_QUEUE } from './zonal-shifts/queue.ts';

export interface Running {
  /** The public port (PORT): /slack/events in HTTP mode, and /healthz. */
  port: number;
  /** The internal port (METRICS_PORT): /metrics, /readyz and /healthz. */
  metricsPort: number;
  stop(): Promise<void>;
}

export async function start(config: Config, logger: Logger): Promise<Running> {
  const { role } = config;
  const runsBot = role === 'all' || role === 'bot';
  const runsWorker = role === 'all' || role === 'worker';
  const botToken = config.slack.botToken ?? '';
  // Runbooks are checked before anything connects: a bad file stops the start with its line.
  const { objectives, targets, registry, runbooks } = loadRecovery(config);
  const templates = Templates.load(config.paths.templatesDir, config.paths.templatesOverrideDir);
  // The configuration's schedules are checked against the runbooks as a fire would, before anything connects.
  const configured = checkConfigSchedules(configSchedules({ schedules: config.schedules, readinessEvery: config.readiness.every }), runbooks, targets.names());
  if (configured.problems.length > 0) throw new ConfigError(configured.problems);
  for (const skipped of configured.skipped) logger.warn({ schedule: skipped }, 'a default schedule is left out');

  const metrics = new Metrics();
  const slack = createSlackClient({ token: botToken, apiUrl: config.slack.apiUrl, logger, observer: metrics });
  // Nothing waits on Slack here: the check runs in the background, retrying with backoff (docs/decisions.md, "Startup and readiness").
  const auth = new SlackAuthMonitor(createSlackProbeClient({ token: botToken, apiUrl: config.slack.apiUrl, logger, observer: metrics }), logger);
  auth.start();

  const probe = createRedisConnection(redisTargetOf(config), 'probe', logger);
  const slackState = () => describeSlackState(auth.current(), auth.everConfirmed);
  const internalRoutes = healthRoutes({ redis: () => pingRedis(probe, 1_000), slack: slackState, slackRequired: runsBot }, metrics.registry);
  // PORT is what the load balancer (and so the internet) reaches: /slack/events and /healthz only.
  const door = runsBot && slackMode(config) === 'http' ? new SlackEventsDoor() : undefined;
  // Probes are served from here on, before anything waits on Redis or Slack.
  let server: Server | null = await startRouteServer(config.port, [...(door ? [door.route] : []), ...publicRoutes(internalRoutes)]);
  const metricsServer = await startRouteServer(config.metricsPort, internalRoutes);
  // Report ready only once Redis is reachable; if it is down, start anyway and say so (connections retry).
  await waitForConnection(probe, 5_000).catch((err: unknown) => {
    logger.warn({ err: errorMessage(err) }, 'redis is not reachable at start; not ready until it is');
  });

  let producer: BotTaskProducer | undefined;
  let front: SlackFront | undefined;
  let workerHandle: WorkerHandle | undefined;
  let runWorkerHandle: WorkerHandle | undefined;
  let incidentWorkerHandle: WorkerHandle | undefined;
  let statuspageHandle: WorkerHandle | undefined;
  let scheduleHandle: WorkerHandle | undefined;
  let shiftKeeperHandle: WorkerHandle | undefined;
  // Ends the background writing of the configured schedules when the process stops.
  const scheduleSync = new AbortController();
  const producerConnection = runsBot ? createRedisConnection(redisTargetOf(config), 'producer', logger) : undefined;
  // Reading run events blocks, so the notifier has a connection of its own.
  const notifierConnection = runsBot ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  let notifier: RunMessageNotifier | undefined;
  const workerConnection = runsWorker ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  // Runs are read and written by the bot (fail fast inside Slack's window) and by workers (wait through blips).
  const runsConnection = createRedisConnection(redisTargetOf(config), runsWorker ? 'worker' : 'producer', logger);
  const runQueue = new RunQueue(runsConnection, config.queuePrefix, logger);
  const store = new RunStore(runsConnection, config.queuePrefix);
  const readiness = new ReadinessStore(runsConnection, config.queuePrefix);
  // The bot's /metrics reads the readiness gauges from the store, wherever the follower runs.
  if (runsBot) metrics.watchReadiness(readiness);
  const drills = new DrillStore(runsConnection, config.queuePrefix);
  if (runsBot) metrics.watchDrills(drills);
  const runService = new RunService({
    store,
    queue: runQueue,
    runbooks,
    registry,
    targets,
    objectives,
    logger,
    observer: metrics,
    approvers: config.roles.approvers,
    requesters: config.roles.requesters,
    runChannels: config.slack.runChannels,
  });
  metrics.watchQueue(QUEUE_NAMES.runs, runQueue.queue);
  const scheduleQueue = new ScheduleQueue(runsConnection, config.queuePrefix, logger);
  const schedules = new ScheduleService({
    store: new ScheduleStore(runsConnection, config.queuePrefix),
    queue: scheduleQueue,
    runs: runService,
    approvers: config.roles.approvers,
    logger,
    // A scheduled run with a channel gets its message there, kept current by the notifier like a requested run's.
    announce: (run, schedule) => (schedule.channel ? postScheduledRun(slack, store, run, schedule.channel.id) : Promise.resolve()),
    // A changing runbook's schedule suspended at a fire says so in its channel, once.
    tell: async (schedule, text) => {
      if (schedule.channel) await slack.chat.postMessage({ channel: schedule.channel.id, text });
    },
    readiness,
  });
  const incidentStore = new IncidentStore(runsConnection, config.queuePrefix);
  // The zonal shifts runs started, kept while needed: a resolved incident's are cancelled at once.
  const shiftQueue = new ShiftKeeperQueue(runsConnection, config.queuePrefix, logger);
  const incidentQueue = new Queue(QUEUE_NAMES.incidents, { connection: runsConnection, prefix: config.queuePrefix });
  incidentQueue.on('error', (err) => {
    logger.debug({ err: err.message }, 'incident queue connection error');
  });
  const outbox = new StatuspageOutbox(runsConnection, config.queuePrefix, logger, config.statuspage.retryBaseMs);
  const incidents = new IncidentService({
    store: incidentStore,
    queue: incidentQueue,
    outbox,
    templates,
    components: config.statuspage.components,
    publicSeverities: config.statuspage.publicSeverities,
    targets: objectives,
    readRuns: async (ids) => (await Promise.all(ids.map((id) => store.get(id)))).filter((r) => r !== undefined),
    onResolved: (incident) => {
      metrics.incidentResolved(incident.scenario, (incident.resolvedAt ?? Date.now()) - incident.startedAt, incident.rtoMs);
      shiftQueue.lookNow(`resolved-${incident.id}`).catch((err: unknown) => {
        logger.warn({ incidentId: incident.id, err: errorMessage(err) }, 'could not ask for a zonal shift look; the next scheduled one cancels the incident\'s shifts');
      });
    },
    logger,
  });
  metrics.watchQueue(QUEUE_NAMES.incidents, incidentQueue);
  metrics.watchQueue(QUEUE_NAMES.statuspage, outbox.queue);
  let runFollower: IncidentRunFollower | undefined;
  // Reading run events blocks: the incident follower has a connection of its own.
  const followerConnection = runsWorker ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  let readinessFollower: ReadinessFollower | undefined;
  const readinessConnection = runsWorker ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  let drillFollower: DrillFollower | undefined;
  const drillConnection = runsWorker ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  let reportFollower: RecoveryReportFollower | undefined;
  const reportConnection = runsWorker ? createRedisConnection(redisTargetOf(config), 'worker', logger) : undefined;
  // A recovery report's incident: its channel gets the file, its start is when data was lost.
  const incidentOfRun = incidentsFrom(incidentStore);

  if (producerConnection) {
    const botProducer = (producer = new BotTaskProducer(producerConnection, config.queuePrefix, logger));
    metrics.watchQueue(QUEUE_NAMES.botTasks, botProducer.queue);
    await botProducer.waitUntilReady().catch((err: unknown) => {
      logger.warn({ err: errorMessage(err) }, 'redis not ready at start; commands will fail until it is');
    });
    const runNotifier = (notifier = new RunMessageNotifier({
      store,
      eventsRedis: notifierConnection ?? runsConnection,
      token: botToken,
      apiUrl: config.slack.apiUrl,
      logger,
      consumerName: `${hostname()}:${process.pid}`,
      observer: metrics,
    }));
    await runNotifier.start();
    const directory = new SlackDirectory(slack);
    const limiter = new RateLimiter(runsConnection, config.queuePrefix);
    // The installation whose full members may act (the guard) and command incidents.
    const installation = () => {
      const state = auth.lastConfirmed();
      return state
        ? { teamId: state.teamId, allowedTeams: config.slack.allowedTeams, ...(state.enterpriseId ? { enterpriseId: state.enterpriseId } : {}), ...(state.appId ? { appId: state.appId } : {}) }
        : undefined;
    };
    const incidentAccess = new IncidentAccess({
      responders: config.roles.responders,
      publishers: config.roles.publishers,
      directory,
      limiter,
      statusPerIncident: config.limits.statusPerIncident,
      declarationsPerUser: config.limits.declarationsPerUser,
      declarationsTotal: config.limits.declarationsTotal,
      installation,
    });
    const wire = (slackApp: SlackApp): SlackApp => {
      // Before every listener: only full members of this installation reach them.
      registerGuard(slackApp.app, {
        directory,
        installation,
        logger,
      });
      registerDrCommand(slackApp.app, {
        slash: config.slack.command,
        incidents,
        producer: botProducer,
        store,
        service: runService,
        notifier: runNotifier,
        incidentAccess,
        directory,
        limiter,
        limits: config.limits,
        services: Object.keys(config.statuspage.components),
        metrics,
        schedules,
        readiness,
        drills,
        reports: { objectives, incident: incidentOfRun },
        logger,
      });
      registerIncidentActions(slackApp.app, {
        incidents,
        store: incidentStore,
        templates,
        services: Object.keys(config.statuspage.components),
        access: incidentAccess,
        logger,
      });
      registerRunActions(slackApp.app, { service: runService, store, notifier: runNotifier, directory, incidents, limiter, limits: config.limits, logger });
      registerGateActions(slackApp.app, { service: runService, notifier: runNotifier, directory, logger });
      registerAppHome(slackApp.app, { store, schedules, readiness, drills, slash: config.slack.command, logger });
      return slackApp;
    };
    // Built once Slack has named the installation and the bot user: until then /slack/events refuses (503).
    front = new SlackFront({ auth, door, logger, build: (identity) => wire(createSlackApp({ config, logger, routes: [], slackObserver: metrics, identity })) });
    front.start();
  }
  if (workerConnection) {
    workerHandle = startBotTaskWorker({
      connection: workerConnection,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      logger,
      handlers: { [JOB_NAMES.ping]: (job, log) => processPing(job, { slack, logger: log, workerName: `${hostname()}:${process.pid}` }) },
    });
    runWorkerHandle = startRunWorker({
      connection: workerConnection,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      lockDurationMs: config.worker.lockDurationMs,
      logger,
      store,
      service: runService,
      queue: runQueue,
      registry,
      engine: { retryBaseMs: config.worker.retryBaseMs, observer: metrics },
      drillHistory: () => drills.results(),
      replicationLag: (cluster) => lastReplicationLag(readiness, cluster),
    });
    incidentWorkerHandle = startIncidentWorker({
      connection: workerConnection,
      prefix: config.queuePrefix,
      store: incidentStore,
      service: incidents,
      templates,
      slack,
      responders: config.slack.responders,
      announceChannel: config.slack.announceChannel,
      publishers: config.roles.publishers,
      logger,
    });
    scheduleHandle = startScheduleWorker({
      connection: workerConnection,
      prefix: config.queuePrefix,
      lockDurationMs: config.worker.lockDurationMs,
      fire: (scheduleId, fireId) => schedules.fire(scheduleId, fireId),
      logger,
    });
    const keeper = new ShiftKeeper({
      redis: runsConnection,
      prefix: config.queuePrefix,
      runs: store,
      incidents: incidentStore,
      targets,
      extendBy: config.zonalShifts.extendBy,
      leaseMs: Math.max(60_000, config.zonalShifts.keepEveryMs),
      tell: async ({ channel, threadTs }, text) => {
        await slack.chat.postMessage({ channel, text, ...(threadTs ? { thread_ts: threadTs } : {}) });
      },
      slash: config.slack.command,
      logger,
    });
    shiftKeeperHandle = startShiftKeeperWorker({ connection: workerConnection, prefix: config.queuePrefix, keeper, logger });
    await shiftQueue.schedule(config.zonalShifts.keepEveryMs).catch((err: unknown) => {
      logger.warn({ err: errorMessage(err) }, 'could not schedule the zonal shift keeper; shifts are looked at when an incident is resolved only');
    });
    // Every worker process writes the configuration's schedules (idempotent); in the background, so a Redis outage does not hold the start.
    void syncConfigSchedules(schedules, configured.valid, scheduleSync.signal, logger);
    await scheduleIncidentClock(incidentQueue, config.incidents.clockMs).catch((err: unknown) => {
      logger.warn({ err: errorMessage(err) }, 'could not schedule the incident clock; summaries are redrawn on changes only');
    });
    runFollower = new IncidentRunFollower({
      eventsRedis: followerConnection ?? runsConnection,
      runs: store,
      incidents: incidentStore,
      service: incidents,
      runbooks,
      consumerName: `${hostname()}:${process.pid}`,
      logger,
    });
    await runFollower.start();
    // Readiness runs' reports: history, metrics' source, and red/green notices in DR_READINESS_CHANNEL (never the status page).
    readinessFollower = new ReadinessFollower({
      eventsRedis: readinessConnection ?? runsConnection,
      runs: store,
      store: readiness,
      notify: createReadinessNotifier({ slack, channel: config.readiness.channel, store: readiness, slash: config.slack.command, logger }),
      consumerName: `${hostname()}:${process.pid}`,
      logger,
    });
    await readinessFollower.start();
    // Drill runs scored against their scenario's RTO/RPO and recorded; each one's report file shared in its channel.
    drillFollower = new DrillFollower({
      eventsRedis: drillConnection ?? runsConnection,
      runs: store,
      store: drills,
      runbooks,
      objectives,
      share: createDrillReporter({ slack, store: drills, logger }),
      consumerName: `${hostname()}:${process.pid}`,
      logger,
    });
    await drillFollower.start();
    // Every changing run that ends gets its recovery report file, once, in its incident's or its own channel (drills keep their drill report).
    reportFollower = new RecoveryReportFollower({
      eventsRedis: reportConnection ?? runsConnection,
      redis: runsConnection,
      prefix: config.queuePrefix,
      runs: store,
      runbooks,
      objectives,
      incident: incidentOfRun,
      post: createRecoveryReporter({ slack, logger }),
      consumerName: `${hostname()}:${process.pid}`,
      logger,
    });
    await reportFollower.start();
    const { apiKey, pageId, apiUrl } = config.statuspage;
    statuspageHandle = startStatuspageWorker({
      connection: workerConnection,
      redis: runsConnection,
      prefix: config.queuePrefix,
      outbox,
      client: apiKey && pageId ? new StatuspageClient({ apiUrl, pageId, apiKey, observe: (outcome) => metrics.statuspageRequests.inc({ outcome }) }) : undefined,
      onRetry: () => metrics.statuspageRetries.inc(),
      warnAfterMs: config.statuspage.warnAfterMs,
      minIntervalMs: config.statuspage.minIntervalMs,
      logger,
      onWarning: async (incidentId, key, text) => {
        const channel = (await incidentStore.get(incidentId))?.channelId;
        if (channel) await postKeyedMessage(slack, channel, `${incidentId}:${key}`, { text });
      },
    });
  }
  const handles: [string, WorkerHandle | undefined][] = [
    [QUEUE_NAMES.botTasks, workerHandle],
    [QUEUE_NAMES.runs, runWorkerHandle],
    [QUEUE_NAMES.incidents, incidentWorkerHandle],
    [QUEUE_NAMES.statuspage, statuspageHandle],
    [SCHEDULE_QUEUE, scheduleHandle],
    [ZONAL_SHIFT_QUEUE, shiftKeeperHandle],
  ];
  for (const [queue, handle] of handles) handle?.worker.on('failed', () => metrics.jobFailures.inc({ queue }));
  const port = listeningPort(server, config.port);
  const metricsPort = listeningPort(metricsServer, config.metricsPort);
  logger.info(
    { role, slackMode: runsBot ? slackMode(config) : undefined, port, metricsPort, queuePrefix: config.queuePrefix, runbooks: runbooks.size, approvers: describeMembers(config.roles.approvers) },
    'dr-chatops started',
  );
  if (runsBot) logApprovers(runbooks, runService, logger);

  let stopping: Promise<void> | undefined;
  const running: Running = {
    port,
    metricsPort,
    stop: () =>
      (stopping ??= (async () => {
        logger.info('shutting down: no new commands or jobs are taken');
        auth.stop();
        scheduleSync.abort();
        notifier?.stop();
        runFollower?.stop();
        readinessFollower?.stop();
        drillFollower?.stop();
        reportFollower?.stop();
        // Stop taking commands first (in HTTP mode PORT serves them: it closes now), then let running jobs reach a safe point.
        await front?.stop();
        if (door) {
          await closeServer(server);
          server = null;
        }
        const closed = await Promise.all([
          workerHandle?.close(config.shutdownTimeoutMs),
          runWorkerHandle?.close(config.shutdownTimeoutMs),
          incidentWorkerHandle?.close(config.shutdownTimeoutMs),
          statuspageHandle?.close(config.shutdownTimeoutMs),
          scheduleHandle?.close(config.shutdownTimeoutMs),
          shiftKeeperHandle?.close(config.shutdownTimeoutMs),
        ]);
        if (closed.some((c) => c?.handedBack)) logger.warn('unfinished jobs were handed back to the queue for another worker');
        await producer?.close();
        await runQueue.close();
        await incidentQueue.close();
        await outbox.close();
        await scheduleQueue.close();
        await shiftQueue.close();
        await Promise.all([closeServer(server), closeServer(metricsServer)]);
        for (const conn of [producerConnection, notifierConnection, followerConnection, readinessConnection, drillConnection, reportConnection, workerConnection, runsConnection, probe]) conn?.disconnect();
        logger.info('shutdown complete');
      })()),
  };
  if (runsBot) {
    // Slack answers within milliseconds when up: then the bot takes requests as soon as start() returns.
    const first = await auth.firstAnswer(SLACK_FIRST_ANSWER_WAIT_MS);
    if (isTokenRejected(first)) {
      await running.stop();
      throw new ConfigError([`SLACK_BOT_TOKEN was rejected by Slack (${first.status === 'failed' ? first.error : ''}); ${SLACK_SETUP_HELP}`]);
    }
  }
  return running;
}

/**
 * Writes the configuration's schedules, retrying while Redis is not there
 * (a worker that starts during an outage catches up when it comes back).
 */
async function syncConfigSchedules(schedules: ScheduleService, specs: Parameters<ScheduleService['syncConfig']>[0], stopped: AbortSignal, logger: Logger): Promise<void> {
  for (let attempt = 1; !stopped.aborted; attempt++) {
    try {
      const { upserted, removed } = await schedules.syncConfig(specs);
      logger.info({ upserted, removed }, 'configured schedules in place');
      return;
    } catch (err) {
      if (attempt === 1) logger.warn({ err: errorMessage(err) }, 'could not write the configured schedules yet; retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(attempt * 1_000, 10_000)).unref());
    }
  }
}

/** Says at start who may approve each changing runbook, and warns about those nobody can approve. */
function logApprovers(runbooks: RunbookSet, service: RunService, logger: Logger): void {
  for (const runbook of runbooks.values()) {
    if (runbook.approval.required === 0) continue;
    const who = service.approversOf(runbook);
    const approvers = describeMembers(who);
    if (approvers === 'nobody') logger.warn({ runbook: runbook.id }, `nobody may approve ${runbook.id}: set ${who.source ?? 'DR_APPROVERS'} (docs/security.md)`);
    else logger.info({ runbook: runbook.id, approvers, source: who.source }, 'approvers');
  }
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined;
}

/**
 * Last-resort handlers for the process (the bot and worker entry point).
 *
 * A promise nobody awaited that rejects (a library's fire-and-forget async
 * code, such as Bolt's request handling) would end the process under Node's
 * default `--unhandled-rejections=throw`: one bad request, every user cut off.
 * The failure is confined to the work that promise was doing, so it is logged
 * at error (through the logger, which scrubs secrets) and the process goes on.
 *
 * An uncaught exception is different: it unwound a synchronous call stack
 * halfway, and what that code was in the middle of (a connection's parser
 * state, a half-updated structure, a lock taken but not released) is unknown.
 * Node's documentation says it is not safe to resume. So it is logged at fatal
 * and the process exits 1; Kubernetes (or Docker's restart policy) starts a
 * clean one, and runs this process held are taken over by another worker when
 * their locks expire (docs/engine.md), as for any crash.
 */
function installCrashHandlers(logger: Logger): void {
  process.on('unhandledRejection', (reason: unknown) => {
    logger.error({ err: errorMessage(reason), stack: stackOf(reason) }, 'unhandled promise rejection; the process keeps running');
  });
  process.on('uncaughtException', (err: Error, origin: string) => {
    // The logger writes synchronously: the line is out before the exit.
    logger.fatal({ err: errorMessage(err), stack: stackOf(err), origin }, 'uncaught exception; exiting so that a clean process replaces this one');
    process.exit(1);
  });
}

/** Exit code for configuration errors (sysexits EX_CONFIG). */
const EXIT_CONFIG = 78;

async function runFromCommandLine(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ env: process.env, ...parseArgs(process.argv.slice(2)) });
  } catch (err) {
    console.error(`dr-chatops cannot start.\n${errorMessage(err)}`);
    process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1);
  }
  const logger = createLogger({ level: config.logLevel, secrets: secretValues(config) });
  installCrashHandlers(logger);

  let running: Running;
  try {
    running = await start(config, logger);
  } catch (err) {
    logger.fatal({ err: errorMessage(err) }, 'start failed');
    console.error(`dr-chatops cannot start.\n${errorMessage(err)}`);
    process.exit(err instanceof ConfigError || err instanceof RunbookLoadError || err instanceof TemplateError ? EXIT_CONFIG : 1);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) await runFromCommandLine();
