import { describe, expect, it } from 'vitest';
import { renderHelp } from '../../../src/slack/views/help.ts';
import { escapeMrkdwn, header, section, truncate } from '../../../src/slack/views/message.ts';
import { renderPong } from '../../../src/slack/views/pong.ts';

describe('views', () => {
  it('help lists every command with its usage', () => {
    const help = renderHelp('/dr');
    expect(help.text).toContain('/dr help [command], /dr restore db <cluster> --latest | --to <time> | --snapshot <id|latest>');
    expect(help.text).toContain('/dr audit <run>, /dr ping');
    expect(JSON.stringify(help.blocks)).toContain('`/dr ping` — Check the bot end to end');
    expect(JSON.stringify(help.blocks)).toContain('`/dr rollback <deployment> [-n <namespace>] [--to-revision <n>]`');
  });

  it('help for one command shows its examples', () => {
    const help = renderHelp('/dr', 'restore');
    expect(JSON.stringify(help.blocks)).toContain('>`/dr restore db prod-aurora --to 15m ago`');
  });

  it('pong names the requester and how long the job waited in the queue', () => {
    const pong = renderPong({ userId: 'U1', requestedAt: 1_000, pickedUpAt: 1_042, worker: 'host:7' });
    expect(pong.text).toBe(':white_check_mark: Pong <@U1>: command → queue → worker → Slack works (picked up after 42 ms).');
    expect(JSON.stringify(pong.blocks)).toContain('Worker `host:7`');
  });

  it('keeps section and header text inside Slack limits with a visible note', () => {
    const long = 'x'.repeat(10_000);
    const s = section(long);
    const h = header(long);
    expect(s.type === 'section' && s.text.text.length).toBe(3000);
    expect(s.type === 'section' && s.text.text.endsWith('… (truncated)')).toBe(true);
    expect(h.type === 'header' && h.text.text.length).toBe(150);
    expect(truncate('short', 10)).toBe('short');
  });

  it('escapes user text so it cannot mention @channel or break formatting', () => {
    expect(escapeMrkdwn('<!channel> & <@U123|bob>')).toBe('&lt;!channel&gt; &amp; &lt;@U123|bob&gt;');
  });
});
