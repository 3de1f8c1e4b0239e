import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';

const base = { SLACK_BOT_TOKEN: 'xoxb-1-2-x', SLACK_SIGNING_SECRET: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' };

describe('METRICS_PORT: the internal port for /metrics, /readyz and /healthz', () => {
  it('defaults to 9090, beside PORT 3000', () => {
    const config = loadConfig({ env: base });
    expect(config.metricsPort).toBe(9090);
    expect(config.port).toBe(3000);
  });

  it('is read from the environment; 0 means a free port', () => {
    expect(loadConfig({ env: { ...base, METRICS_PORT: '9100' } }).metricsPort).toBe(9100);
    expect(loadConfig({ env: { ...base, METRICS_PORT: '0' } }).metricsPort).toBe(0);
  });

  it('must differ from PORT, and the error names both', () => {
    expect(() => loadConfig({ env: { ...base, PORT: '9090' } })).toThrow(/METRICS_PORT: must differ from PORT \(port\), both are 9090/);
    expect(() => loadConfig({ env: { ...base, PORT: '4000', METRICS_PORT: '4000' } })).toThrow(/METRICS_PORT: must differ from PORT/);
  });

  it('may equal PORT when both are 0 (each gets its own free port)', () => {
    const config = loadConfig({ env: { ...base, PORT: '0', METRICS_PORT: '0' } });
    expect([config.port, config.metricsPort]).toEqual([0, 0]);
  });

  it('is refused when it is not a port', () => {
    expect(() => loadConfig({ env: { ...base, METRICS_PORT: 'ninety' } })).toThrow(/METRICS_PORT: must be a whole number from 0 to 65535/);
    expect(() => loadConfig({ env: { ...base, METRICS_PORT: '70000' } })).toThrow(/METRICS_PORT: must be a whole number/);
  });
});
