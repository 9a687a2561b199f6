import { randomInt } from 'node:crypto';

// Letters and digits only: every softphone's settings form and provisioning format
// accepts them without escaping. 24 of 62 symbols ≈ 142 bits of entropy.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const GENERATED_PASSWORD_LENGTH = 24;

/** A uniformly random password from the CSPRNG (randomInt has no modulo bias). */
export function generatePassword(length = GENERATED_PASSWORD_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}
