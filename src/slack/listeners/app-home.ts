import type { App } from '@slack/bolt';
import type { Logger } from '../../log/logger.ts';
import type { RunStore } from '../../runs/store.ts';
import type { ScheduleService } from '../../schedules/service.ts';
import type { ReadinessStore } from '../../readiness/store.ts';
import type { DrillStore } from '../../drills/store.ts';
import { renderHome } from '../views/home.ts';

/** Publishes the App Home tab (runs in progress and awaiting approval, schedules) when someone opens it. */
export function registerAppHome(
  app: App,
  {
    store,
    schedules,
    readiness,
    drills,
    slash,
    logger,
  }: { store: RunStore; schedules?: ScheduleService; readiness?: Pick<ReadinessStore, 'latest'>; drills?: Pick<DrillStore, 'latestPerScenario'>; slash: string; logger: Logger },
): void {
  app.event('app_home_opened', async ({ event, client }) => {
    if (event.tab !== 'home') return;
    try {
      // The App Home is no channel: runs of private channels and DMs are not shown there.
      const runs = (await store.list(100)).filter((r) => !r.origin.private);
      // Nor schedules that post in a private channel.
      const listed = (await schedules?.list())?.filter((s) => !s.channel?.private) ?? [];
      // Readiness describes the estate, not a conversation: shown to everyone (without run ids). Unreadable: left out, the rest still shows.
      const latest = await readiness?.latest().catch(() => undefined);
      // So does the last drill of each scenario, without run ids.
      const lastDrills = await drills?.latestPerScenario().catch(() => undefined);
      await client.views.publish({ user_id: event.user, view: renderHome(runs, Date.now(), slash, listed, latest, lastDrills) });
    } catch (err) {
      logger.warn({ user: event.user, err: err instanceof Error ? err.message : String(err) }, 'could not publish the App Home tab');
    }
  });
}
