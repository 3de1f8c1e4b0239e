import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Document, parse } from 'yaml';
import { readText, ROOT } from './files.ts';

/**
 * deploy/kubernetes/runbooks.yaml is generated from commands/*.yaml, so the
 * deployed runbooks are the reviewed ones. After changing a runbook:
 *   npx vitest run test/unit/deploy -u
 */
function runbooksConfigMap(): { text: string; data: Record<string, string> } {
  const files = readdirSync(join(ROOT, 'commands')).filter((f) => /\.ya?ml$/.test(f)).sort();
  const data = Object.fromEntries(files.map((f) => [f, readText(`commands/${f}`)]));
  const doc = new Document({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'dr-chatops-runbooks', namespace: 'dr-chatops', labels: { 'app.kubernetes.io/name': 'dr-chatops' } },
    data,
  });
  doc.commentBefore = [
    ' GENERATED from commands/*.yaml by test/unit/deploy/runbooks-configmap.test.ts: do not edit.',
    ' After changing a runbook: npx vitest run test/unit/deploy -u',
    ' Mounted at COMMANDS_DIR; runbooks are read at start (kubectl -n dr-chatops rollout restart deploy).',
  ].join('\n');
  return { text: doc.toString({ blockQuote: 'literal', lineWidth: 0 }), data };
}

describe('deploy/kubernetes/runbooks.yaml', () => {
  it('holds exactly the runbooks in commands/', async () => {
    const { text, data } = runbooksConfigMap();
    expect((parse(text) as { data: Record<string, string> }).data).toEqual(data);
    await expect(text).toMatchFileSnapshot('../../../deploy/kubernetes/runbooks.yaml');
  });
});
