/**
 * What a step sees of the run-time gates (approval.gate): opening one in the
 * run's channel and reading its answer. The engine gives it to steps bound
 * to the run, the step and the executing worker (its writes are fenced).
 */
export interface GateAccess {
  /** Opens the gate; its id names it in the buttons. Throws when the worker no longer owns the run. */
  open(gate: GateRequest): Promise<{ id: string; expiresAt: number }>;
  /** Where the gate stands now. */
  look(gateId: string): Promise<GateAnswer>;
  /** Closes a gate still open as expired; a decision that came first stands and is returned instead. */
  expire(gateId: string): Promise<GateAnswer>;
}

export interface GateRequest {
  question: string;
  facts: string[];
  required: number;
  choices: { accept: string; refuse: string };
  onTimeout: 'fail' | 'proceed';
  expiresAt: number;
}

export type GateAnswer =
  | { state: 'open' }
  | { state: 'accepted'; by: string[] }
  | { state: 'refused'; by: string; reason?: string }
  | { state: 'expired' };
