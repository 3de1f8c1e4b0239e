/**
 * Credentials written into URLs (`https://deploy:s3cret@host/…`, or a token
 * as the user name, `https://ghp_…@host/…`). Pure; shared by parameter binding,
 * the http steps' URL schema, every refusal shown in Slack and the logger.
 *
 * The user information of a URL is everything between `//` and the last `@`
 * before the path, query or fragment (as the WHATWG parser reads it).
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>`\\]+)@/gi;

/** True when `text` holds a URL with a user name or password in it. */
export function hasUrlCredentials(text: string): boolean {
  USERINFO.lastIndex = 0;
  return USERINFO.test(text);
}

/**
 * `text` with the user information of every URL hidden: `user:password@`
 * keeps the user name (`deploy:[redacted]@`), a lone user name (often a token)
 * is hidden whole (`[redacted]@`).
 */
export function withoutUrlCredentials(text: string): string {
  return text.replace(USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon > 0 ? `${scheme}${userinfo.slice(0, colon)}:[redacted]@` : `${scheme}[redacted]@`;
  });
}

/**
 * Why such a URL is refused and what to do instead; says nothing of the value.
 * The http steps send no credentials of their own (no header, no secret
 * reference): only their Idempotency-Key.
 */
export const URL_CREDENTIALS_REFUSAL =
  'a URL may not carry a user name or password (`user:password@` or `user@`): every value a run is given is shown in the channel\'s plan, the audit and the bot\'s logs, so it would be published. ' +
  'Give the URL without them. The http steps send no credentials of their own, so point them at an endpoint that needs none from the bot (e.g. an internal health or deploy hook reachable only from the bot\'s network, listed in HTTP_ALLOWED_TARGETS); a call that needs a secret belongs in a step that reads it from the bot\'s own configuration (docs/security.md, section 10). ' +
  'If the password was real, treat it as exposed and rotate it.';
