/** Caps on what the engine records about a run; every front end shows these texts as recorded. */

/**
 * Our cap on one error's text where it is recorded (a step's failed attempt,
 * a run's failure): an error can be several KB (a stack, an HTML page), and
 * it is shown in the run message, its thread and the audit.
 */
export const ERROR_TEXT_LIMIT = 1_000;
/** One failed attempt's error, leaving room within ERROR_TEXT_LIMIT for why the step gave up ("… (gave up after 3 attempts)"). */
export const ATTEMPT_ERROR_LIMIT = 900;
