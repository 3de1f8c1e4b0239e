import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/incidents/model.ts';
import { achievedRpo, IncidentService, type IncidentServiceDeps } from '../../../src/incidents/service.ts';
import { TemplateError, Templates } from '../../../src/incidents/templates.ts';
import { createLogger } from '../../../src/log/logger.ts';

const TEMPLATES = fileURLToPath(new URL('../../../templates/', import.meta.url));
const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-25T08:00:00Z');

function incident(overrides: Partial<Incident> = {}): Incident {
  return {
    id: 'inc-x',
    scenario: 'region-outage',
    title: 'API down',
    severity: 'sev1',
    public: true,
    declaredBy: 'U1',
    commander: 'U1',
    originChannel: 'C1',
    channelName: 'inc-x',
    affectedServices: ['api'],
    impact: 'all requests fail',
    startedAt: T0,
    rtoMs: 4 * HOUR,
    rpoMs: 15 * 60_000,
    state: 'investigating',
    currentStatus: 'investigating',
    runs: [],
    ...overrides,
  };
}

/** The service with a controllable clock; values() needs nothing else. */
function service(now: number): IncidentService {
  return new IncidentService({ templates: Templates.load(TEMPLATES), components: {}, logger: createLogger({ level: 'silent' }), now: () => now } as unknown as IncidentServiceDeps);
}

describe('RTO and RPO figures', () => {
  it('counts the RTO down while open and turns into "exceeded by"', () => {
    expect(service(T0 + 90 * 60_000).values(incident()).rto_remaining).toBe('2h 30m');
    expect(service(T0 + 5 * HOUR).values(incident()).rto_remaining).toBe('RTO exceeded by 1h');
  });

  it('uses the targets the incident was declared with (the team\'s own when configured)', () => {
    const tight = incident({ rtoMs: HOUR, rpoMs: 5 * 60_000 });
    expect(service(T0 + 90 * 60_000).values(tight)).toMatchObject({ rto_target: '1h', rpo_target: '5m', rto_remaining: 'RTO exceeded by 30m' });
  });

  it('reports the achieved RTO on resolution against the scenario target', () => {
    const met = service(T0 + 10 * HOUR).values(incident({ state: 'resolved', resolvedAt: T0 + 3 * HOUR + 20 * 60_000 }));
    expect(met).toMatchObject({ rto_achieved: '3h 20m', rto_target: '4h', rto_verdict: 'met', duration: '3h 20m' });
    const missed = service(T0).values(incident({ state: 'resolved', resolvedAt: T0 + 5 * HOUR }));
    expect(missed.rto_verdict).toBe('missed by 1h');
  });

  it('reports the RPO from the restore point a run used', () => {
    const tenMinutes = incident({ restorePoint: new Date(T0 - 10 * 60_000).toISOString() });
    expect(achievedRpo(tenMinutes)).toBe(10 * 60_000);
    expect(service(T0).values(tenMinutes)).toMatchObject({ rpo_target: '15m', rpo_verdict: 'met' });
    expect(service(T0).values(tenMinutes).rpo_achieved).toBe('10m of data lost (restored to 2026-11-25T07:50:00.000Z)');
    const hour = incident({ scenario: 'accidental-deletion', restorePoint: new Date(T0 - HOUR).toISOString() });
    expect(service(T0).values(hour).rpo_verdict).toBe('missed by 45m');
    expect(service(T0).values(incident()).rpo_achieved).toBe('no data restored');
  });
});

describe('templates', () => {
  it('fills the DR plan\'s template, escaping user text', () => {
    const templates = Templates.load(TEMPLATES);
    const text = templates.render('declared', { title: 'API <!channel> down', status: 'Investigating' });
    expect(text).toContain('*[INCIDENT] API &lt;!channel&gt; down*');
    expect(text).not.toContain('<!channel>');
  });

  it('refuses a template with an unknown placeholder, naming file, line and name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'templates-'));
    writeFileSync(join(dir, 'incident-update.md'), 'line one\n{{status}} {{eta}}\n');
    let error: unknown;
    try {
      Templates.load(TEMPLATES, dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).problems).toEqual([expect.stringMatching(new RegExp(`^${join(dir, 'incident-update.md')}:2: unknown placeholder \\{\\{eta\\}\\}`))]);
  });

  it('lets a team override one template by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'templates-'));
    writeFileSync(join(dir, 'statuspage-resolved.txt'), 'All good again with {{affected_services}}.');
    expect(Templates.load(TEMPLATES, dir).render('statuspageResolved', { affected_services: 'api' })).toBe('All good again with api.');
  });
});

describe('templates: bot-built markup, public text, checklists', () => {
  const templates = Templates.load(TEMPLATES);

  it('keeps the bot\'s mentions in Slack, strips them from the public page, and escapes user text', () => {
    const slack = templates.render('declared', { commander: '<@U0CAROL001>', impact: 'see <!channel>' });
    expect(slack).toContain('*INCIDENT COMMANDER:* <@U0CAROL001>');
    expect(slack).toContain('User impact: see &lt;!channel&gt;');
    const page = templates.render('statuspageDeclared', { affected_services: 'api <b>x</b>' });
    expect(page).not.toMatch(/[<>]/);
  });

  it('reads the DR plan\'s checklists, and refuses an override that has no items', () => {
    expect(templates.checklist('checklistDuring')).toEqual([
      'Incident declared with appropriate severity',
      'On-call team mobilized',
      'Stakeholders notified',
      'Status page updated',
      'Recovery procedures initiated',
      'Progress communicated regularly',
    ]);
    expect(templates.checklistTitle('checklistAfter')).toBe('After Recovery (DR plan checklist)');
    const overrides = mkdtempSync(join(tmpdir(), 'templates-'));
    writeFileSync(join(overrides, 'checklist-after.md'), '# After\n\nnothing to tick\n');
    expect(() => Templates.load(TEMPLATES, overrides)).toThrow(/checklist-after\.md: a checklist needs at least one `- \[ \] item` line/);
  });
});
