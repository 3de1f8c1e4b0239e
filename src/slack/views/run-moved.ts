import type { Run } from '../../runs/model.ts';
import { section, type SlackMessage } from './message.ts';

/** Where the run's live message is, as a link when Slack gave one. */
function liveMessage(run: Pick<Run, 'id'>, permalink: string | undefined): string {
  return permalink ? `<${permalink}|this message>` : `a newer message in this channel (\`/dr show ${run.id}\`)`;
}

/**
 * What a run's old message becomes once the run was posted afresh (Slack
 * would not update it): where the run is now, and no buttons. Pure.
 */
export function renderRunMoved(run: Pick<Run, 'id'>, permalink: string | undefined): SlackMessage {
  const text = `:arrow_down: This run (\`${run.id}\`) moved: its live message, with its buttons, is ${liveMessage(run, permalink)}.`;
  return { text, blocks: [section(text)] };
}

/** The answer to a click on a run's old message: nothing changed, and where to act instead. */
export function movedRunRefusal(run: Pick<Run, 'id'>, permalink: string | undefined): string {
  return `Buttons of run \`${run.id}\` work only on its own message, and this is an old one: the run moved to ${liveMessage(run, permalink)}, where they work. Nothing changed.`;
}
