/**
 * Public text: the status page gets only the public templates (with public
 * placeholders) and runbooks' `status` text, every value cleaned.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Incident } from '../../../src/incidents/model.ts';
import { IncidentService, type IncidentServiceDeps } from '../../../src/incidents/service.ts';
import { TemplateError, Templates } from '../../../src/incidents/templates.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { cleanUpdate, FALLBACK_NAME, type PageUpdate } from '../../../src/statuspage/outbox.ts';

const TEMPLATES = fileURLToPath(new URL('../../../templates/', import.meta.url));
const HOSTILE_TITLE = 'API <!channel> down \u202Enwod\u202C in us\u200B-east-1 <@U0ADMIN01>';

const overrides = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'templates-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof TemplateError) return err.problems;
    throw err;
  }
  return [];
};

describe('status page templates', () => {
  const templates = Templates.load(TEMPLATES);

  it('the incident name is the title, through statuspage-name.txt, cleaned', () => {
    expect(templates.render('statuspageName', { title: HOSTILE_TITLE })).toBe('API down nwod in us-east-1');
    expect(templates.render('statuspageName', { title: 'x'.repeat(400) })).toHaveLength(255);
  });

  it('a body gets its values cleaned', () => {
    const body = templates.render('statuspageDeclared', { affected_services: 'api <!here>, db\u2066', next_update_in: '30 minutes' });
    expect(body).toBe('We are investigating an issue affecting api , db. We will provide an update within 30 minutes.');
  });

  it('refuses, at load, a status page template naming an internal placeholder', () => {
    for (const name of ['current_status', 'impact', 'commander', 'actions_taken', 'timeline', 'incident_id', 'rto_target']) {
      const dir = overrides({ 'statuspage-update.txt': `Update: {{${name}}}` });
      expect(problemsOf(() => Templates.load(TEMPLATES, dir))).toEqual([
        expect.stringMatching(new RegExp(`statuspage-update\\.txt:1: \\{\\{${name}\\}\\} is internal and cannot go on the public status page \\(public: title, status,`)),
      ]);
    }
    // Slack templates may name them.
    expect(problemsOf(() => Templates.load(TEMPLATES, overrides({ 'incident-update.md': '{{current_status}} {{impact}}' })))).toEqual([]);
  });

  it('lets a team choose the public name (or keep the title off the page)', () => {
    const dir = overrides({ 'statuspage-name.txt': 'Service disruption: {{affected_services}}' });
    expect(Templates.load(TEMPLATES, dir).render('statuspageName', { title: 'Bad migration on orders-db', affected_services: 'api' })).toBe('Service disruption: api');
    expect(problemsOf(() => Templates.load(TEMPLATES, overrides({ 'statuspage-name.txt': '{{title}} ({{commander}})' })))).toHaveLength(1);
  });

  it('a TEMPLATES_DIR without statuspage-name.txt still starts: the name is the title', () => {
    const dir = mkdtempSync(join(tmpdir(), 'templates-full-'));
    for (const file of ['incident-declared.md', 'incident-update.md', 'incident-resolved.md', 'postmortem.md', 'statuspage-declared.txt', 'statuspage-update.txt', 'statuspage-resolved.txt']) {
      writeFileSync(join(dir, file), 'x {{status}}');
    }
    writeFileSync(join(dir, 'checklist-during.md'), '# D\n- [ ] a\n');
    writeFileSync(join(dir, 'checklist-after.md'), '# A\n- [ ] b\n');
    expect(Templates.load(dir).render('statuspageName', { title: 'API <!channel> down' })).toBe('API down');
  });
});

describe('the outbox gate and the service\'s public paths', () => {
  it('cleanUpdate cleans name and body, idempotently, and never leaves the name empty', () => {
    const update: PageUpdate = { seq: 1, kind: 'create', name: HOSTILE_TITLE, status: 'investigating', body: 'Hi <!channel>\u200B\n\u202Ethere', components: {} };
    const clean = cleanUpdate(update);
    expect(clean).toEqual({ ...update, name: 'API down nwod in us-east-1', body: 'Hi\nthere' });
    expect(cleanUpdate(clean)).toEqual(clean);
    expect(cleanUpdate({ ...update, name: '\u200B\u200B\u200B' }).name).toBe(FALLBACK_NAME);
  });

  it('a runbook\'s status text goes to the page cleaned, under the public name', async () => {
    const enqueued: unknown[] = [];
    const service = new IncidentService({
      templates: Templates.load(TEMPLATES),
      components: { api: 'cmpapi' },
      outbox: { enqueue: (_id: string, update: unknown) => Promise.resolve(void enqueued.push(update)) },
      logger: createLogger({ level: 'silent' }),
    } as unknown as IncidentServiceDeps);
    const incident = { id: 'inc-x', title: HOSTILE_TITLE, severity: 'sev1', public: true, state: 'identified', commander: 'U1', impact: 'all', currentStatus: 'x', affectedServices: ['api'], startedAt: 0, rtoMs: 1, rpoMs: 1, scenario: 'region-outage' } as unknown as Incident;
    await service.announceRunOnPage(incident, 'Failing over <!channel>\u202E now <https://x.example|details>', 'partial_outage');
    expect(enqueued).toEqual([{ kind: 'update', name: 'API down nwod in us-east-1', status: 'identified', body: 'Failing over now details', components: { cmpapi: 'partial_outage' } }]);
  });
});
