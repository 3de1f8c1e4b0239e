/** Reading the deploy artefacts and the sources they are checked against. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Document, parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUBE_DIR = join(ROOT, 'deploy', 'kubernetes');

export function readText(relPath: string): string {
  return readFileSync(join(ROOT, relPath), 'utf8');
}

export interface YamlDoc {
  readonly file: string;
  readonly index: number;
  readonly value: unknown;
  readonly doc: Document.Parsed;
}

/** Every non-empty document of a (multi-document) YAML file; a syntax error throws with the file name. */
export function yamlDocs(relPath: string): YamlDoc[] {
  const docs = Array.from(parseAllDocuments(readText(relPath)));
  const out: YamlDoc[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) throw new Error(`${relPath} document ${index}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push({ file: relPath, index, value, doc });
  });
  return out;
}

/** File names (not paths) in deploy/kubernetes. */
export function kubeFiles(): string[] {
  return readdirSync(KUBE_DIR).sort();
}

export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** Every .ts file under a source folder, recursively. */
export function sourceFiles(relDir: string): SourceFile[] {
  return readdirSync(join(ROOT, relDir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => ({ path: `${relDir}/${f}`, text: readText(`${relDir}/${f}`) }));
}

/** Step ids declared in src/steps (`id: 'k8s.rollout-restart'`). */
export function stepIds(): Set<string> {
  return new Set(sourceFiles('src/steps').flatMap((f) => [...f.text.matchAll(/\bid: '([\w.-]+)'/g)].map((m) => m[1] ?? '')));
}
