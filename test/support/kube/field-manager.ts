/**
 * The field manager the API server records for a write, and its refusal of a
 * bad one, as apiserver's handlers do: `fieldManager` is a parameter of
 * creates, patches and updates (CreateOptions, PatchOptions, UpdateOptions),
 * at most 128 bytes of printable characters (ValidateFieldManager), required
 * for an apply patch; left out, the manager is the User-Agent's product name
 * (managerOrUserAgent: the part before the first `/`).
 */
import { KubeError } from '../kube-error.ts';

const MAX_BYTES = 128;
const OPTIONS: Record<string, string> = { POST: 'CreateOptions', PATCH: 'PatchOptions', PUT: 'UpdateOptions' };
/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const NOT_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/**
 * The manager a write is recorded under (undefined for a read), or the
 * API server's 422 for its `fieldManager`.
 */
export function writeManager(method: string, url: URL, contentType: string, userAgent: string | undefined): string | undefined {
  const options = OPTIONS[method];
  if (!options) return undefined;
  const given = url.searchParams.get('fieldManager') ?? '';
  const problems: string[] = [];
  if (method === 'PATCH' && contentType.startsWith('application/apply-patch') && given === '') problems.push('fieldManager: Required value: is required for apply patch');
  if (Buffer.byteLength(given) > MAX_BYTES) problems.push(`fieldManager: Too long: may not be more than ${String(MAX_BYTES)} bytes`);
  let position = 0;
  for (const char of given) {
    if (NOT_PRINTABLE.test(char)) {
      const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
      problems.push(`fieldManager: Invalid value: ${JSON.stringify(given)}: invalid character ${code} (at position ${String(position)})`);
    }
    position += Buffer.byteLength(char);
  }
  if (problems.length) {
    const message = `${options}.meta.k8s.io "" is invalid: ${problems.length === 1 ? (problems[0] ?? '') : `[${problems.join(', ')}]`}`;
    throw new KubeError(422, 'Invalid', message, { group: 'meta.k8s.io', kind: options });
  }
  return given || productOf(userAgent ?? '');
}

/** The User-Agent's product name, printable characters only, cut to 128 bytes. */
function productOf(userAgent: string): string {
  let out = '';
  for (const char of userAgent.split('/')[0] ?? '') {
    if (NOT_PRINTABLE.test(char)) continue;
    if (Buffer.byteLength(out + char) > MAX_BYTES) break;
    out += char;
  }
  return out;
}
