import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/**
 * A short id people can read aloud and type (no 0/o, 1/l/i): `r` + 7
 * characters, about 2^34 values. Never all digits and no ":" (BullMQ job ids).
 */
export function newRunId(): string {
  const bytes = randomBytes(7);
  return `r${[...bytes].map((b) => ALPHABET[b % ALPHABET.length] ?? 'x').join('')}`;
}
