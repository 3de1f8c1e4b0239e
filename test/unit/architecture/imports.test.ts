import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The shape of src/ as its import statements give it. Type-only imports count:
 * they vanish at run time, but two modules that name each other's types still
 * cannot be understood, moved or tested one without the other, which is what a
 * circle costs. Dynamic import() and `export … from` count too.
 */
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each file of src/ (relative, with /) and the files of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const deps = importedFiles
      .map((f) => f.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => resolve(dirname(file), name))
      .filter((path) => known.has(path));
    graph.set(rel(file), [...new Set(deps.map(rel))]);
  }
  return graph;
}

const rel = (path: string) => relative(SRC, path).split('\\').join('/');

/** Every import circle: the strongly connected groups of more than one file (Tarjan), each as one circle through them. */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) groups.push(group);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return groups.map((group) => pathThrough(graph, group));
}

/** One circle inside a group, as `a → b → … → a`, so the message shows which imports to cut. */
function pathThrough(graph: ReadonlyMap<string, readonly string[]>, group: readonly string[]): string[] {
  const members = new Set(group);
  const start = [...group].sort()[0] ?? '';
  const back = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift() ?? '';
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(back.get(path[0] ?? '') ?? start);
        return [...path, start];
      }
      if (!back.has(w)) {
        back.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...group];
}

describe('the import graph of src/', () => {
  const graph = importGraph();

  it('reads the imports it checks (a parser that saw none would pass anything)', () => {
    expect(graph.get('main.ts')).toContain('queue/run-worker.ts');
    expect(graph.get('targets/identity.ts')).toContain('targets/resolved.ts'); // type-only
  });

  it('has no import circles, of two files or more', () => {
    expect(circles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const withCircle = new Map(graph);
    withCircle.set('targets/resolved.ts', [...(graph.get('targets/resolved.ts') ?? []), 'targets/targets.ts']);
    const found = circles(withCircle).map((c) => c.join(' → '));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('targets/resolved.ts → targets/targets.ts');
  });

  it('flows one way: nothing in engine, steps, runs or queue imports from slack', () => {
    const inward = [...graph].flatMap(([file, deps]) =>
      /^(engine|steps|runs|queue)\//.test(file) ? deps.filter((d) => d.startsWith('slack/')).map((d) => `${file} → ${d}`) : [],
    );
    expect(inward).toEqual([]);
  });
});
