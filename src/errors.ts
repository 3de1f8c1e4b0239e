/**
 * Errors the rest of the code acts on. A `UserError` carries text that is safe
 * and useful to show a person in Slack or the CLI; anything else is internal and
 * is only logged (redacted), never shown.
 */

/** Bad or missing configuration: the process cannot start. Lists every problem at once. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A mistake the user can fix: the message says what was wrong and how to write it. */
export class UserError extends Error {
  /** The form field at fault, where the input came from a form (a Slack modal shows the message under it). */
  readonly field: string | undefined;

  constructor(message: string, field?: string) {
    super(message);
    this.name = 'UserError';
    this.field = field;
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError || (err instanceof Error && err.name === 'UserError');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
