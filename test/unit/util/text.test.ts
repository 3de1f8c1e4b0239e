import { describe, expect, it } from 'vitest';
import { graphemes, PUBLIC_NAME_LIMIT, publicText, truncate } from '../../../src/util/text.ts';

const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'; // 👨‍👩‍👧: 8 code units, one grapheme
const FLAG = '\u{1F1E9}\u{1F1EA}'; // 🇩🇪: two regional indicators
const E_ACUTE = 'e\u0301'; // e + combining acute
const FIRE = '\u{1F525}'; // a surrogate pair

/** True when `text` has no lone surrogate (a split pair). */
const wellFormed = (text: string) => text.isWellFormed();

describe('truncate: cuts by grapheme cluster', () => {
  it('leaves text within the limit alone and notes a cut', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('x'.repeat(200), 150)).toBe(`${'x'.repeat(137)}… (truncated)`);
    expect(truncate('x'.repeat(200), 150)).toHaveLength(150);
    expect(truncate('abcdef', 4, '…')).toBe('abc…');
    expect(truncate('abcdef', 3, '')).toBe('abc');
  });

  it('never splits a surrogate pair', () => {
    const text = FIRE.repeat(100); // 200 code units
    for (const limit of [1, 2, 3, 15, 16, 149, 150]) {
      const cut = truncate(text, limit, '…');
      expect(cut.length).toBeLessThanOrEqual(limit);
      expect(wellFormed(cut)).toBe(true);
    }
    expect(truncate(`a${FIRE}`, 2, '')).toBe('a');
  });

  it('keeps an emoji ZWJ sequence, a flag and a combining sequence whole or drops them whole', () => {
    const text = `${'a'.repeat(140)}${FAMILY}${FLAG}${E_ACUTE}tail`;
    for (let limit = 140; limit <= text.length; limit++) {
      const cut = truncate(text, limit, '');
      expect(cut.length).toBeLessThanOrEqual(limit);
      expect(text.startsWith(cut)).toBe(true);
      // The cut ends on a grapheme boundary: its graphemes are a prefix of the original's.
      const parts = graphemes(cut);
      expect(graphemes(text).slice(0, parts.length)).toEqual(parts);
    }
    expect(truncate(`ab${FAMILY}`, 9, '')).toBe('ab'); // 2 + 8 units: the family does not fit, and is not cut
    expect(truncate(`ab${E_ACUTE}c`, 3, '')).toBe('ab'); // never an e without its accent
  });

  it('a header of 150 emoji ZWJ sequences is cut to whole families', () => {
    const cut = truncate(FAMILY.repeat(40), 150);
    expect(cut.length).toBeLessThanOrEqual(150);
    expect(cut.endsWith('… (truncated)')).toBe(true);
    expect(cut.replace('… (truncated)', '')).toBe(FAMILY.repeat(17));
  });
});

describe('publicText: what may go on the public status page', () => {
  it('removes bidi controls', () => {
    expect(publicText('API \u202Enwod\u202C in \u2066us-east-1\u2069 \u200E\u200F\u061Cnow')).toBe('API nwod in us-east-1 now');
    for (const c of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) {
      expect(publicText(`a${c}b`)).toBe('ab');
    }
  });

  it('removes zero-width characters (a ZWJ sequence falls apart into its emoji)', () => {
    for (const c of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF']) expect(publicText(`ap${c}i`)).toBe('api');
    expect(publicText(FAMILY)).toBe('\u{1F468}\u{1F469}\u{1F467}');
  });

  it('removes control characters; tabs and line breaks become single spaces', () => {
    expect(publicText('a\u0000b\u0007c\u001b[31md\u007f\u0085e')).toBe('abc[31mde');
    expect(publicText('line one\r\nline two\tand\u2028three')).toBe('line one line two and three');
    expect(publicText('  spaced    out  ')).toBe('spaced out');
  });

  it('keeps line breaks only in multiline text (a body), never more than one blank line', () => {
    expect(publicText('one \r\n\r\n\r\n two\u0000', { multiline: true })).toBe('one\n\ntwo');
  });

  it('removes Slack markup: mentions, @channel, user groups and channels vanish, links become their label', () => {
    expect(publicText('API down <!channel> now')).toBe('API down now');
    expect(publicText('<!here|here> and <!everyone>')).toBe('and');
    expect(publicText('ask <@U0ALICE001> or <@U0BOB00001|bob>')).toBe('ask or');
    expect(publicText('<!subteam^S0SRE|@sre-oncall> paged')).toBe('paged');
    expect(publicText('see <#C0INCIDENT1|inc-secret>')).toBe('see');
    expect(publicText('see <https://status.example/x|our status page> or <https://status.example/y>')).toBe('see our status page or https://status.example/y');
    expect(publicText('<mailto:help@example.com|email us>')).toBe('email us');
  });

  it('treats Slack-encoded text as the characters it stands for, and leaves no angle bracket', () => {
    expect(publicText('&lt;!channel&gt; down')).toBe('down');
    expect(publicText('latency &gt; 5s &amp; rising')).toBe('latency 5s & rising');
    expect(publicText('&amp;lt;!channel&amp;gt;')).toBe('');
    expect(publicText('a <b>bold</b> <script>x</script> a<=b')).toBe('a bold x a =b');
    expect(publicText('<\u200B!channel> hi')).toBe('hi');
  });

  it('keeps *, _ and ~ (they cannot mention or link)', () => {
    expect(publicText('*db_primary* is ~slow~')).toBe('*db_primary* is ~slow~');
  });

  it('cuts to the limit by grapheme cluster, with …', () => {
    expect(publicText('x'.repeat(1_000))).toHaveLength(PUBLIC_NAME_LIMIT);
    expect(publicText('x'.repeat(1_000)).endsWith('…')).toBe(true);
    const cut = publicText(FIRE.repeat(10), { max: 6 });
    expect(cut).toBe(`${FIRE}${FIRE}…`);
    expect(publicText(`${'a'.repeat(8)}${E_ACUTE}`, { max: 10 })).toBe(`${'a'.repeat(8)}${E_ACUTE}`);
    expect(publicText(`${'a'.repeat(8)}${E_ACUTE}x`, { max: 10 })).toBe(`${'a'.repeat(8)}…`); // never an e without its accent
  });

  it('repairs lone surrogates', () => {
    expect(publicText('a\uD83Db').isWellFormed()).toBe(true);
  });

  it('is idempotent', () => {
    const samples = [
      'API <!channel> down \u202Eevil\u202C api\u200Bgw',
      '&amp;lt;x&amp;gt; <https://a.example|&lt;b&gt;> &amp;&amp;',
      `${FAMILY.repeat(60)} tail`,
      '  a \t b \n\n\n c  ',
      'word '.repeat(80),
    ];
    for (const s of samples) {
      for (const options of [{}, { multiline: true, max: 50 }, { max: 20 }]) {
        const once = publicText(s, options);
        expect(publicText(once, options)).toBe(once);
      }
    }
  });
});
