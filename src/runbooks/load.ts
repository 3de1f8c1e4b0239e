import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { StepRegistry } from '../steps/registry.ts';
import { parseParamValue } from './params.ts';
import { findRefs, parseRef } from './refs.ts';
import { type Runbook, RunbookSchema } from './schema.ts';
import { EKS_CLUSTER_NAME, TARGET_NAME } from '../targets/config.ts';

/** Runbooks could not be loaded: every problem, each as `file:line: path: reason`. */
export class RunbookLoadError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Runbooks are invalid; nothing was loaded:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RunbookLoadError';
    this.problems = problems;
  }
}

export type RunbookSet = ReadonlyMap<string, Runbook>;

/**
 * Loads every `*.yaml` / `*.yml` in `dir`. All or nothing: one bad file fails
 * the whole load, so a malformed runbook never half-loads.
 */
export function loadRunbooks(dir: string, registry: StepRegistry, targets?: readonly string[]): RunbookSet {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new RunbookLoadError([`${dir}: cannot read the runbook folder (${err instanceof Error ? err.message : String(err)})`]);
  }
  const problems: string[] = [];
  const runbooks = new Map<string, Runbook>();
  const fileOf = new Map<string, string>();
  for (const file of files) {
    const path = join(dir, file);
    const result = parseRunbook(readFileSync(path, 'utf8'), path, registry, targets);
    problems.push(...result.problems);
    if (!result.runbook) continue;
    const other = fileOf.get(result.runbook.id);
    if (other) problems.push(`${path}: id ${result.runbook.id} is already used by ${other}`);
    runbooks.set(result.runbook.id, result.runbook);
    fileOf.set(result.runbook.id, path);
  }
  if (problems.length > 0) throw new RunbookLoadError(problems);
  return runbooks;
}

/**
 * Parses and checks one runbook file's text. `path` names it in messages.
 * With `targets` (the configured ones), the targets it names are checked too.
 */
export function parseRunbook(text: string, path: string, registry: StepRegistry, targets?: readonly string[]): { runbook?: Runbook; problems: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (where: (string | number)[]) => `${path}:${lineOf(doc, lines, where)}`;
  if (doc.errors.length > 0) {
    return { problems: doc.errors.map((e) => `${path}:${lines.linePos(e.pos[0]).line}: YAML syntax: ${e.message.split('\n')[0] ?? ''}`) };
  }
  const parsed = RunbookSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((i) => `${at(i.path as (string | number)[])}: ${formatPath(i.path)}: ${i.message}`),
    };
  }
  const runbook = parsed.data;
  const problems: string[] = [];
  const expectedId = basename(path).replace(/\.ya?ml$/, '');
  if (runbook.id !== expectedId) problems.push(`${at(['id'])}: id: "${runbook.id}" must match the file name (${expectedId})`);

  for (const [name, spec] of Object.entries(runbook.params)) {
    const where = ['params', name];
    if (spec.type === 'enum' && !spec.values) problems.push(`${at(where)}: params.${name}: an enum needs values`);
    if (spec.pattern !== undefined) {
      try {
        new RegExp(spec.pattern);
      } catch {
        problems.push(`${at([...where, 'pattern'])}: params.${name}.pattern: not a valid regular expression`);
      }
    }
    // '' is "left out" for string and target parameters (bindParams).
    const leftOut = spec.default === '' && (spec.type === 'string' || spec.type === 'target');
    if (spec.type === 'target' && spec.default !== undefined && !leftOut) {
      const problem = targetProblem(String(spec.default), targets);
      if (problem) problems.push(`${at([...where, 'default'])}: params.${name}.default: ${problem}`);
    } else if (spec.default !== undefined && !leftOut && spec.type !== 'target') {
      const check = parseParamValue(spec, spec.default);
      if (!check.ok) problems.push(`${at([...where, 'default'])}: params.${name}.default: ${check.problem}`);
    }
  }

  const ids = new Set<string>();
  const checkSection = (section: 'steps' | 'always') => {
    // Cleanup steps may not use main steps' outputs: the main step may not have run.
    const seen = new Map<string, readonly string[]>();
    runbook[section].forEach((step, index) => checkStep(section, step, index, seen));
  };
  const checkStep = (section: 'steps' | 'always', step: Runbook['steps'][number], index: number, seen: Map<string, readonly string[]>) => {
    const where = (...rest: (string | number)[]) => at([section, index, ...rest]);
    const label = `${section}[${index}] (${step.id})`;
    if (ids.has(step.id)) problems.push(`${where('id')}: ${label}: step id is used twice`);
    ids.add(step.id);
    const impl = registry.get(step.use);
    if (!impl) {
      problems.push(`${where('use')}: ${label}.use: unknown step "${step.use}" (known: ${[...registry.keys()].sort().join(', ')})`);
    } else {
      problems.push(...checkWith(step.with, impl.params, (key) => `${where('with', key)}: ${label}.with${key ? `.${key}` : ''}`));
    }
    for (const [key, value] of Object.entries(step.with)) {
      for (const refPath of findRefs(value)) {
        const problem = checkRef(refPath, runbook, seen, section);
        if (problem) problems.push(`${where('with', key)}: ${label}.with.${key}: \${{ ${refPath} }}: ${problem}`);
      }
    }
    for (const problem of placeProblems(step, runbook, targets)) problems.push(`${where(problem.field)}: ${label}.${problem.field}: ${problem.message}`);
    seen.set(step.id, impl?.outputs ?? []);
  };
  for (const problem of placeProblems(runbook, runbook, targets)) problems.push(`${at([problem.field])}: ${problem.field}: ${problem.message}`);
  checkSection('steps');
  checkSection('always');

  return problems.length > 0 ? { problems } : { runbook, problems };
}

/** A step's `target:` and `cluster:`: a literal, or exactly one reference to a parameter of the right type. */
function placeProblems(step: Pick<Runbook['steps'][number], 'target' | 'cluster'>, runbook: Runbook, targets: readonly string[] | undefined): { field: 'target' | 'cluster'; message: string }[] {
  const out: { field: 'target' | 'cluster'; message: string }[] = [];
  const check = (field: 'target' | 'cluster', value: string | undefined, literal: (v: string) => string | undefined) => {
    if (value === undefined) return;
    const refs = findRefs(value);
    if (refs.length === 0) {
      const problem = literal(value);
      if (problem) out.push({ field, message: problem });
      return;
    }
    const ref = refs.length === 1 && /^\$\{\{[^}]*\}\}$/.test(value.trim()) ? parseRef(refs[0] ?? '') : undefined;
    const spec = ref?.kind === 'param' ? runbook.params[ref.name] : undefined;
    const wanted = field === 'target' ? 'target' : 'string';
    if (!ref || ref.kind !== 'param') out.push({ field, message: `must be a name or exactly \${{ params.<name> }}` });
    else if (!spec) out.push({ field, message: `no parameter "${ref.name}" (parameters: ${Object.keys(runbook.params).join(', ') || 'none'})` });
    else if (spec.type !== wanted) out.push({ field, message: `parameter "${ref.name}" must be of type ${wanted}, not ${spec.type}` });
  };
  check('target', step.target, (v) => targetProblem(v, targets));
  check('cluster', step.cluster, (v) => (EKS_CLUSTER_NAME.test(v) ? undefined : `"${v.slice(0, 100)}" is not an EKS cluster name`));
  return out;
}

function targetProblem(name: string, targets: readonly string[] | undefined): string | undefined {
  if (!TARGET_NAME.test(name)) return `"${name.slice(0, 40)}" is not a target name (lower-case letters, digits and -)`;
  if (targets && !targets.includes(name)) return `no target "${name}" is configured (targets: ${targets.join(', ')})`;
  return undefined;
}

/**
 * Checks a step's `with:` against its parameter schema. Values that hold a
 * reference are checked when the run binds them, not here.
 */
function checkWith(values: Record<string, unknown>, schema: z.ZodObject, label: (key: string) => string): string[] {
  const deferred = Object.fromEntries(
    Object.entries(values)
      .filter(([, v]) => findRefs(v).length > 0)
      .map(([k]) => [k, z.unknown()]),
  );
  const result = schema.safeExtend(deferred).strict().safeParse(values);
  if (result.success) return [];
  return result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => `${label(key)}: unknown parameter (parameters: ${Object.keys(schema.shape).join(', ')})`)
      : [`${label(formatPath(i.path))}: ${i.message}`],
  );
}

function checkRef(path: string, runbook: Runbook, earlier: ReadonlyMap<string, readonly string[]>, section: 'steps' | 'always'): string | undefined {
  const ref = parseRef(path);
  if (!ref) return 'not a reference: use params.<name>, steps.<id>.outputs.<name>, run.id, run.shortId or run.incidentId';
  switch (ref.kind) {
    case 'param':
      return ref.name in runbook.params
        ? undefined
        : `no parameter "${ref.name}" (parameters: ${Object.keys(runbook.params).join(', ') || 'none'})`;
    case 'output': {
      const outputs = earlier.get(ref.step);
      if (!outputs) {
        return section === 'always' && runbook.steps.some((s) => s.id === ref.step)
          ? `an always step cannot use outputs of main step "${ref.step}": it may not have run (use params and run.id)`
          : `no earlier step "${ref.step}" (a step can only use outputs of steps before it)`;
      }
      return outputs.includes(ref.output)
        ? undefined
        : `step "${ref.step}" has no output "${ref.output}" (outputs: ${outputs.join(', ') || 'none'})`;
    }
    case 'run':
      return undefined;
  }
}

function lineOf(doc: Document, lines: LineCounter, path: (string | number)[]): number {
  // Walk up until a node on the path exists (a missing key is reported at its parent).
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}
