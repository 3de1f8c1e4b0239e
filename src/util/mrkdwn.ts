/**
 * Slack's mrkdwn for user values, in one place: every view, fallback text and
 * message that quotes what someone typed goes through these.
 */

/**
 * Escapes user-supplied text for mrkdwn: `&`, `<` and `>` are the only control
 * characters, and escaping them also defuses `<!channel>` and `<@U…>` mentions.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A user value as an inline code span: escaped like all user text, with its
 * backticks turned into ˋ (U+02CB, which looks alike) and its line breaks into
 * spaces, so the value can neither close the span early nor leave it.
 */
export function code(value: string | number | boolean): string {
  return `\`${escapeMrkdwn(String(value).replace(/`/g, '\u02CB').replace(/[\r\n\u2028\u2029]+/g, ' '))}\``;
}

/**
 * A message written for mrkdwn (a UserError's) as plain text, for places that
 * show plain text only (modal field errors): code-span backticks dropped and
 * the three entities decoded.
 */
export function plainFromMrkdwn(text: string): string {
  return text.replace(/`/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
