import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, toSlackLogger } from '../../../src/log/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, destination, text: () => lines.join('') };
}

describe('logger', () => {
  const secret = 'statuspage-key-0123456789abcdef';

  it('writes one JSON object per line', () => {
    const out = capture();
    createLogger({ level: 'info', destination: out.destination }).info({ runId: 'r1' }, 'hello');
    expect(JSON.parse(out.lines[0] ?? '')).toMatchObject({ level: 30, msg: 'hello', runId: 'r1' });
  });

  it('scrubs configured secret values from messages, fields and errors', () => {
    const out = capture();
    const log = createLogger({ level: 'info', secrets: [secret], destination: out.destination });
    log.info(`calling with ${secret}`);
    log.warn({ detail: { nested: `key=${secret}` } }, 'nested');
    log.error({ err: new Error(`failed: ${secret}`) }, 'boom');
    expect(out.text()).not.toContain(secret);
    expect(out.text()).toContain('[redacted]');
  });

  it('scrubs Slack tokens, response URLs and Redis passwords it was not told about', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.destination });
    log.info('token xoxb-123-456-abcDEF and app xapp-1-A0-99-ffee');
    log.info({ url: 'https://hooks.slack.com/commands/T1/2/abc' }, 'responding');
    log.info({ redis: 'redis://default:hunter2hunter2@redis.internal:6379' }, 'connecting');
    const text = out.text();
    expect(text).not.toMatch(/xoxb-123|xapp-1-A0|hooks\.slack\.com|hunter2/);
    expect(text).toContain('redis://default:[redacted]@redis.internal:6379');
  });

  it('redacts fields named like secrets', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.destination });
    log.info({ token: 'abc', headers: { authorization: 'Bearer abc' }, password: 'pw' }, 'fields');
    const line = JSON.parse(out.lines[0] ?? '') as Record<string, unknown>;
    expect(line).toMatchObject({ token: '[redacted]', headers: { authorization: '[redacted]' }, password: '[redacted]' });
  });

  it('routes Bolt and Web API client logs through the same scrubbing', () => {
    const out = capture();
    const slackLogger = toSlackLogger(createLogger({ level: 'debug', destination: out.destination }));
    slackLogger.warn('http request failed', new Error('token xoxb-1-2-LEAK was rejected'));
    expect(out.text()).toContain('http request failed');
    expect(out.text()).not.toContain('xoxb-1-2-LEAK');
  });
});
