import { E164_MAX_DIGITS, parseE164, parseE164Path } from './e164';

describe('parseE164', () => {
  test.each([
    ['+14155550123', '+14155550123', true, 'US'],
    ['+1 (415) 555-0123', '+14155550123', true, 'US'],
    ['+44 20 7946 0958', '+442079460958', true, 'GB'],
    ['  +33.1.23.45.67.89 ', '+33123456789', true, 'FR'],
    ['+800 1234 5678', '+80012345678', true, null],
  ])('%s → %s (assigned: %s, country %s)', (input, e164, valid, country) => {
    expect(parseE164(input)).toEqual({ ok: true, e164, digits: e164.slice(1), valid, country });
  });

  test("the seed's example +1234567890 is well-formed E.164 but not an assigned NANP number", () => {
    expect(parseE164('+1234567890')).toEqual({
      ok: true,
      e164: '+1234567890',
      digits: '1234567890',
      valid: false,
      country: null,
    });
  });

  test("+0987654321 (the seed's to_number) → rejected: no country code starts with 0", () => {
    const result = parseE164('+0987654321');
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.problem).toMatch(/country calling code/);
  });

  test.each([
    ['14155550123', /E\.164 form/],
    ['0044 20 7946 0958', /E\.164 form/],
    ['+1 800 FLOWERS', /only "\+", digits/],
    ['+1415555012;ext=1', /only "\+", digits/],
    ['+1', /too short/],
    ['+1234567890123456', new RegExp(`at most ${E164_MAX_DIGITS}`)],
    ['+999123456', /country calling code/],
    ['', /E\.164 form/],
  ])('%j → rejected (%s)', (input, problem) => {
    const result = parseE164(input);
    expect(result).toEqual({ ok: false, problem: expect.stringMatching(problem) });
  });

  test('15 digits is the most E.164 allows and is accepted', () => {
    expect(parseE164('+491234567890123')).toMatchObject({ ok: true, e164: '+491234567890123' });
  });
});

describe('parseE164Path', () => {
  test('bare digits (as Kamailio\'s tables keep them) read as E.164 with the "+" restored', () => {
    expect(parseE164Path('14155550123')).toMatchObject({ ok: true, e164: '+14155550123' });
  });

  test('"+…" (or %2B decoded by the router) is taken as is', () => {
    expect(parseE164Path('+442079460958')).toMatchObject({ ok: true, e164: '+442079460958' });
  });

  test('digits that form no country code are still rejected', () => {
    expect(parseE164Path('0987654321')).toMatchObject({ ok: false });
  });
});
