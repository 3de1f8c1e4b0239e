/**
 * What of an HTTP answer may ever be shown (Slack, the audit, errors): a short
 * excerpt with control characters removed and credential-looking values redacted.
 */

export const EXCERPT_CHARS = 200;
/** How much of a body is looked at for an excerpt. */
const EXCERPT_SCAN = 16 * 1024;

// Bounded repetitions keep every pattern linear in the text's length.
const KEY_NAMES = String.raw`[\w.-]{0,40}(?:secret|token|passw(?:or)?d|pwd|credential|api[-_]?key|access[-_]?key|private[-_]?key|session[-_]?key|authorization|signature|cookie)[\w.-]{0,40}`;

const CREDENTIAL_PATTERNS: readonly [RegExp, string][] = [
  // PEM private keys, whole.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted]'],
  // "SecretAccessKey": "…", 'token': '…', password=…
  [new RegExp(String.raw`(["']?${KEY_NAMES}["']?\s*[:=]\s*)(?:(?:Bearer|Basic|Token)\s+[^\s,;&}\]"']+|"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,;&}\]]+)`, 'gi'), '$1"[redacted]"'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, '$1 [redacted]'],
  [/\b(Token)\s+[A-Za-z0-9\-._~+/]{16,}=*/gi, '$1 [redacted]'],
  // AWS access key ids (long-term AKIA…, temporary ASIA…, and the other principal prefixes).
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12,}\b/g, '[redacted]'],
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, '[redacted]'],
  [/\bxapp-[A-Za-z0-9-]+/g, '[redacted]'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, '[redacted]'],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted]'],
  // Credentials in URLs.
  [/(\/\/)[^/\s:@]+:[^/\s@]+@/g, '$1[redacted]@'],
];

/** A long run of key-like characters mixing upper case, lower case and digits (a secret key, a session token). */
const OPAQUE = /[A-Za-z0-9+/_=-]{32,}/g;
const looksRandom = (s: string): boolean => /[A-Z]/.test(s) && /[a-z]/.test(s) && /\d/.test(s);

/** Anything that looks like a credential, replaced by `[redacted]`. */
export function redactCredentials(text: string): string {
  let out = text;
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out.replace(OPAQUE, (m) => (looksRandom(m) ? '[redacted]' : m));
}

/**
 * The most of an answer's body that is ever shown (Slack, audit, errors): at
 * most `max` characters, one line, control, bidi and zero-width characters
 * removed, credential-looking values replaced by `[redacted]`. Characters are
 * removed before redacting, so they cannot be used to split a key past the
 * patterns.
 */
export function bodyExcerpt(body: string, max = EXCERPT_CHARS): string {
  let flat = body
    .slice(0, EXCERPT_SCAN)
    .replace(/[\p{Cf}\p{Co}\p{Cs}]/gu, '')
    .replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ')
    .trim();
  // Where the scan cut the body, a credential may have been cut too, past the patterns: drop that end.
  if (body.length > EXCERPT_SCAN) flat = flat.slice(0, Math.max(0, flat.length - 256));
  const chars = Array.from(redactCredentials(flat));
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}
