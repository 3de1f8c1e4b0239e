import type { Tag } from '@aws-sdk/client-rds';

/**
 * RDS tag rules (RDS API reference, `Tag` data type): a key is 1-128
 * characters, a value at most 256, and neither may begin with `aws:` or
 * `rds:`. Automated snapshot ids begin with `rds:`, so a value built from one
 * must be changed before it is sent.
 */
export const TAG_KEY_MAX = 128;
export const TAG_VALUE_MAX = 256;
const RESERVED_PREFIX = /^(aws|rds):/i;

/** A tag built by {@link buildTags}, and what had to be changed to make it valid. */
export interface BuiltTags {
  tags: Tag[];
  /** One sentence per value that was changed, for the plan and the progress messages. */
  notes: string[];
}

/**
 * Makes `value` a valid RDS tag value: leading `aws:`/`rds:` prefixes are
 * removed (repeatedly) and the rest is cut to 256 characters. Returns the
 * value and what was done to it.
 */
export function tagValue(value: string): { value: string; stripped: string; cut: boolean } {
  let rest = value;
  let stripped = '';
  for (let m = RESERVED_PREFIX.exec(rest); m; m = RESERVED_PREFIX.exec(rest)) {
    stripped += m[0];
    rest = rest.slice(m[0].length);
  }
  const cut = rest.length > TAG_VALUE_MAX;
  return { value: cut ? rest.slice(0, TAG_VALUE_MAX) : rest, stripped, cut };
}

/**
 * The one place the RDS steps build tags. Keys are ours (constants) and must
 * already be valid: a bad key is a programming error and throws. Values are
 * made valid by {@link tagValue}, and every change is reported in `notes`.
 * A value given as `[head, suffix]` keeps its suffix whole (e.g. `@<time>`):
 * only the head is stripped and cut.
 */
export function buildTags(entries: Record<string, string | readonly [head: string, suffix: string]>): BuiltTags {
  const tags: Tag[] = [];
  const notes: string[] = [];
  for (const [key, entry] of Object.entries(entries)) {
    if (key.length < 1 || key.length > TAG_KEY_MAX || RESERVED_PREFIX.test(key)) throw new Error(`invalid RDS tag key "${key}"`);
    const [raw, suffix] = typeof entry === 'string' ? [entry, ''] : entry;
    if (suffix.length >= TAG_VALUE_MAX || RESERVED_PREFIX.test(suffix)) throw new Error(`invalid RDS tag suffix "${suffix}"`);
    const head = tagValue(raw);
    const cut = head.cut || head.value.length + suffix.length > TAG_VALUE_MAX;
    const value = `${head.value.slice(0, TAG_VALUE_MAX - suffix.length)}${suffix}`;
    const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
    if (head.stripped) notes.push(`tag ${key} drops the leading "${head.stripped}" of "${shown}" (RDS tag values may not begin with aws: or rds:)`);
    if (cut) notes.push(`tag ${key} cuts "${shown}" to fit RDS's ${TAG_VALUE_MAX} characters`);
    tags.push({ Key: key, Value: value });
  }
  return { tags, notes };
}
