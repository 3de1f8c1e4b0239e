/**
 * Checks AWS JSON-protocol requests (awsJson1_0: CloudWatch as the v3 SDK
 * speaks it; awsJson1_1: ECR, Secrets Manager) against the service model
 * (model.ts): the operation named by `X-Amz-Target`, a JSON object body, no
 * unknown members, required members present, JSON types, enums, lengths,
 * patterns and ranges (the walk is rest-json.ts's `checkJsonValue`).
 *
 * Each service words a refusal its own way: ECR answers InvalidParameterException
 * ("Invalid parameter at 'imageIds' failed to satisfy constraint: …"), Secrets
 * Manager ValidationException ("1 validation error detected: Value null at
 * 'secretId' failed to satisfy constraint: Member must not be null"),
 * CloudWatch its query codes (MissingParameter, InvalidParameterValue).
 */
import { serviceModel, type ServiceName } from './model.ts';
import type { ModelProblem } from './query.ts';
import { checkJsonValue } from './rest-json.ts';

export type JsonService = Extract<ServiceName, 'cloudwatch' | 'ecr' | 'secretsmanager' | 'route53-recovery-cluster'>;

/** What a service answers a body that breaks the model with. */
interface Wording {
  invalid: string;
  missing: string;
  missingMessage: (member: string) => string;
  wrap: (message: string) => string;
}

/** Secrets Manager and ECR name members in camelCase in their messages (`secretId`), whatever the wire name. */
const camel = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

const WORDING: Record<JsonService, Wording> = {
  cloudwatch: {
    invalid: 'InvalidParameterValue',
    missing: 'MissingParameter',
    missingMessage: (member) => `The parameter ${member} is required.`,
    wrap: (message) => message,
  },
  ecr: {
    invalid: 'InvalidParameterException',
    missing: 'InvalidParameterException',
    missingMessage: (member) => `Invalid parameter at '${camel(member)}' failed to satisfy constraint: 'Member must not be null'`,
    wrap: (message) => message.replace(/^Value (?:'.*' )?at '(.+?)' failed to satisfy constraint: (.*)$/s, (_m, at: string, what: string) => `Invalid parameter at '${camel(at)}' failed to satisfy constraint: '${what}'`),
  },
  // ARC's routing control API: ValidationException, its members named as Secrets Manager's are (its own wording is not published).
  'route53-recovery-cluster': {
    invalid: 'ValidationException',
    missing: 'ValidationException',
    missingMessage: (member) => `1 validation error detected: Value null at '${camel(member)}' failed to satisfy constraint: Member must not be null`,
    wrap: (message) => (message.startsWith('Value ') ? `1 validation error detected: ${message.replace(/ at '(.+?)'/, (_m, at: string) => ` at '${camel(at)}'`)}` : message),
  },
  secretsmanager: {
    invalid: 'ValidationException',
    missing: 'ValidationException',
    missingMessage: (member) => `1 validation error detected: Value null at '${camel(member)}' failed to satisfy constraint: Member must not be null`,
    wrap: (message) => (message.startsWith('Value ') ? `1 validation error detected: ${message.replace(/ at '(.+?)'/, (_m, at: string) => ` at '${camel(at)}'`)}` : message),
  },
};

/**
 * Where the AWS JSON services name an operation: `X-Amz-Target: <prefix>.<Operation>`.
 * The v2 model describes CloudWatch's query protocol; the v3 SDK speaks awsJson1_0 with this prefix.
 */
function targetPrefix(service: JsonService): string {
  return service === 'cloudwatch' ? 'GraniteServiceVersion20100801' : (serviceModel(service).targetPrefix ?? service);
}

export interface JsonMatch {
  operation?: string;
  input: Record<string, unknown>;
  problem?: ModelProblem;
}

/**
 * The operation `target` names and the request's input, with the first
 * problem the service would report, if any. A body that is not a JSON object
 * is a SerializationException, as the JSON services answer it.
 */
export function checkJsonRequest(service: JsonService, target: string | undefined, rawBody: string): JsonMatch {
  const prefix = targetPrefix(service);
  const model = serviceModel(service);
  const [givenPrefix, operation] = (target ?? '').split('.', 2);
  if (givenPrefix !== prefix || !operation || !model.operation(operation)) {
    return { input: {}, problem: { code: 'UnknownOperationException', message: target ? `Unknown operation ${target}` : 'Missing X-Amz-Target header' } };
  }
  let body: unknown;
  try {
    body = rawBody === '' ? {} : JSON.parse(rawBody);
  } catch {
    return { operation, input: {}, problem: { code: 'SerializationException', message: 'The request body is not valid JSON.' } };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { operation, input: {}, problem: { code: 'SerializationException', message: 'Start of structure or map found where not expected.' } };
  }
  const input = body as Record<string, unknown>;
  const wording = WORDING[service];
  const node = model.input(operation);
  for (const [name, value] of Object.entries(input)) {
    const problem = checkJsonValue(node.member(name), name, value, wording.invalid);
    if (problem) return { operation, input, problem: { code: problem.code, message: wording.wrap(problem.message) } };
  }
  const missing = node.required.find((name) => input[name] === undefined || input[name] === null);
  if (missing) return { operation, input, problem: { code: wording.missing, message: wording.missingMessage(missing) } };
  return { operation, input };
}
