/** One field the API server refused, as `Status.details.causes` lists it. */
export interface KubeErrorCause {
  reason: string;
  message: string;
  field: string;
}

/** What `Status.details` says of the refused object. */
export interface KubeErrorDetails {
  name?: string;
  group?: string;
  kind?: string;
  /** A field's refusal (422), or a cause without a field (an eviction's `DisruptionBudget`). */
  causes?: (KubeErrorCause | Omit<KubeErrorCause, 'field'>)[];
}

/** A Kubernetes API error, answered as the server's `Status` object (404, 409, 422, …). */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: KubeErrorDetails | undefined;
  constructor(code: number, reason: string, message: string, details?: KubeErrorDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}
