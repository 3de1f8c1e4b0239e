const RUN_FIELDS = {
  id: 'rabc1234',
  runbookId: 'big',
  runbookTitle: 'A very long runbook',
  params: { cluster: 'prod-aurora' } as Record<string, string | number | boolean>,
  requester: { id: 'U0ALICE001', via: 'slack' as const },
  origin: {},
  dryRun: false,
  policy: { required: 2, users: ['U0APPROVE1'], groups: ['sre-oncall'], allowSelfApproval: false, expiresInMs: 900_000 },
  createdAt: 0,
  expiresAt: 900_000,
  timeoutMs: 3_600_000,
  approvals: [],
};

/**
 * A run's fixed fields as a request makes them (two approvals from a user or
 * a group), for tests of what is shown of a run: spread it and give the plan,
 * steps and state the test is about, overriding what it looks at.
 */
export function runFields(overrides: Partial<typeof RUN_FIELDS> = {}): typeof RUN_FIELDS {
  return { ...RUN_FIELDS, ...overrides };
}
