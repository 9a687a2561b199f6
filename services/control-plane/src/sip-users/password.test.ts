import { GENERATED_PASSWORD_LENGTH, generatePassword } from './password';

describe('generated SIP passwords', () => {
  test('generatePassword() → 24 letters and digits', () => {
    const password = generatePassword();
    expect(password).toHaveLength(GENERATED_PASSWORD_LENGTH);
    expect(password).toMatch(/^[A-Za-z0-9]+$/);
  });

  test('1000 passwords → 1000 distinct values using the whole alphabet', () => {
    const passwords = Array.from({ length: 1000 }, () => generatePassword());
    expect(new Set(passwords).size).toBe(1000);
    const symbols = new Set(passwords.join(''));
    expect(symbols.size).toBe(62);
  });
});
