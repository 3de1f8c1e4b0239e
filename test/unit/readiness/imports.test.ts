import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const READINESS = join(SRC, 'readiness');

/** The files of src/ that a file of src/readiness imports (type-only imports and re-exports too). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles.filter((f) => f.fileName.startsWith('.')).map((f) => relative(SRC, resolve(dirname(file), f.fileName)).split('\\').join('/'));
}

describe('src/readiness knows no Slack', () => {
  const files = readdirSync(READINESS).filter((f) => f.endsWith('.ts')).map((f) => join(READINESS, f));

  it('reads the imports it checks', () => {
    expect(importsOf(join(READINESS, 'follower.ts'))).toContain('runs/events.ts');
  });

  it('imports nothing from src/slack: the notifier is injected', () => {
    const inward = files.flatMap((f) => importsOf(f).filter((d) => d.startsWith('slack/')).map((d) => `${relative(SRC, f)} → ${d}`));
    expect(inward).toEqual([]);
  });
});
