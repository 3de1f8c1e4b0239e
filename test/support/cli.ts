/**
 * The CLI as `npm run dr -- …` runs it: a child process (loopback-guarded)
 * whose exit code, stdout and stderr a test reads.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { guardedNodeArgs, guardEnv, REPO_ROOT } from './process.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  /** What it printed so far. */
  stdout: () => string;
  /** Resolves once stdout holds `text`; rejects if the process ends first. */
  printed: (text: string) => Promise<void>;
  done: Promise<CliResult>;
}

export const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
export const newOperatorKey = () => randomBytes(32).toString('base64url');

/** Starts `src/cli/main.ts` with exactly `env` (and the loopback guard). */
export function startCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [...guardedNodeArgs(), 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, env: { ...env, ...guardEnv() } });
  let stdout = '';
  let stderr = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
    for (const w of waiting.filter((x) => stdout.includes(x.text))) w.resolve();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<CliResult>((resolve) => {
    child.on('exit', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
  return {
    stdout: () => stdout,
    printed: (text) =>
      stdout.includes(text)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiting.push({ text, resolve })),
            done.then((r) => {
              if (!r.stdout.includes(text)) throw new Error(`the CLI ended (${String(r.code)}) without printing ${text}:\n${r.stdout}\n${r.stderr}`);
            }),
          ]),
    done,
  };
}

export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(args, env).done;
}
