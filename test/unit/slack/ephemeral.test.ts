import { describe, expect, it } from 'vitest';
import { TEXT_RECOMMENDED_LIMIT } from '../../../src/slack/limits.ts';
import { ephemeralText } from '../../../src/slack/views/ephemeral.ts';

describe('a private answer as Slack gets it', () => {
  it('is kept as it is when it fits', () => {
    expect(ephemeralText(':warning: short\n• one')).toBe(':warning: short\n• one');
  });

  it('past the limit keeps whole lines from the start, then says how many more', () => {
    const lines = [':warning: Parameters for x are not valid:', ...Array.from({ length: 1_000 }, (_, i) => `• \`p${String(i)}\` is not a parameter of x (parameters: cluster, to)`)];
    const text = ephemeralText(lines.join('\n'));
    expect(text.length).toBeLessThanOrEqual(TEXT_RECOMMENDED_LIMIT);
    const shown = text.split('\n');
    const more = Number(/^… and ([\d,]+) more lines$/.exec(shown.at(-1) ?? '')?.[1]?.replace(/,/g, ''));
    expect(shown.slice(0, -1)).toEqual(lines.slice(0, shown.length - 1));
    expect(shown.length - 1 + more).toBe(lines.length);
  });

  it('one line too long is cut, saying how much', () => {
    const text = ephemeralText(`:warning: ${'x'.repeat(10_000)}`);
    expect(text.length).toBeLessThanOrEqual(TEXT_RECOMMENDED_LIMIT);
    expect(text).toMatch(/more characters\)$/);
  });

  it('never shows the password of a URL it quotes', () => {
    expect(ephemeralText('`run` takes parameters as key=value; `https://deploy:s3cr3t-Pass@h/x` is not one')).toBe('`run` takes parameters as key=value; `https://deploy:[redacted]@h/x` is not one');
  });
});
