/**
 * Skip when red (docs/schedules.md): a schedule may depend on readiness
 * items; a fire while one of them fails in the latest readiness check makes
 * no run. Only `fail` is red: `warn` and `unknown` do not skip, nor does an
 * item no check has reported yet.
 */
import type { LatestReadiness } from '../readiness/store.ts';
import { code } from '../util/mrkdwn.ts';
import { truncate } from '../util/text.ts';

/** Why a fire is skipped: each item of `ids` failing in `latest` (on any target), or undefined when none does. */
export function redItems(ids: readonly string[], latest: LatestReadiness): string | undefined {
  const red = latest.targets.flatMap(({ report }) =>
    report.items
      .filter((item) => item.status === 'fail' && ids.includes(item.id))
      .map((item) => `${code(item.id)} on ${report.target} (checked ${new Date(report.checkedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${truncate(item.reason, 120, '…')})`),
  );
  if (red.length === 0) return undefined;
  return `skipped: readiness ${red.length === 1 ? 'item' : 'items'} it depends on ${red.length === 1 ? 'is' : 'are'} red: ${red.join('; ')}`;
}
