import { withoutUrlCredentials } from '../../util/url-credentials.ts';
import { linesWithin, TEXT_RECOMMENDED_LIMIT } from '../limits.ts';
import { capText } from '../../util/text.ts';

/**
 * The text of an answer only the asker sees (a refusal, an error, a
 * confirmation), as Slack gets it: within Slack's advised length for a
 * message's text, cut between lines (the first lines, then how many more),
 * and with any password or token in a URL hidden, whatever the message
 * quotes of what was typed.
 */
export function ephemeralText(text: string, limit = TEXT_RECOMMENDED_LIMIT): string {
  const safe = withoutUrlCredentials(text);
  if (safe.length <= limit) return safe;
  const lines = safe.split('\n');
  // Room for the note however many lines it counts.
  const note = (n: number) => `… and ${n.toLocaleString('en-US')} more lines`;
  const { kept, omitted } = linesWithin(lines, limit - note(lines.length).length - 1);
  if (kept.length === 0) return capText(safe, limit);
  return `${kept.join('\n')}\n${note(omitted)}`;
}
