import { GSM7_BASIC_TABLE, GSM7_EXTENSION_TABLE, analyzeSms, splitSms } from './segments';

const EMOJI = '😀'; // U+1F600, a surrogate pair in UTF-16

/** Septets a GSM-7 part costs, counted independently of the module (extension characters 2). */
function septetsOf(part: string): number {
  return [...part].reduce((sum, char) => sum + ([...GSM7_EXTENSION_TABLE.values()].includes(char) ? 2 : 1), 0);
}

function expectNoBrokenPair(parts: string[]): void {
  for (const part of parts) {
    expect(part).not.toMatch(/^[\uDC00-\uDFFF]/);
    expect(part).not.toMatch(/[\uD800-\uDBFF]$/);
  }
}

describe('GSM 03.38 tables (TS 23.038 §6.2.1, §6.2.1.1)', () => {
  test("basic table has 128 positions with the spec's characters at known septet values", () => {
    expect(GSM7_BASIC_TABLE).toHaveLength(128);
    expect(GSM7_BASIC_TABLE[0x00]).toBe('@');
    expect(GSM7_BASIC_TABLE[0x09]).toBe('Ç');
    expect(GSM7_BASIC_TABLE[0x10]).toBe('Δ');
    expect(GSM7_BASIC_TABLE[0x1b]).toBe('\x1b');
    expect(GSM7_BASIC_TABLE[0x24]).toBe('¤');
    expect(GSM7_BASIC_TABLE[0x40]).toBe('¡');
    expect(GSM7_BASIC_TABLE[0x5e]).toBe('Ü');
    expect(GSM7_BASIC_TABLE[0x60]).toBe('¿');
    expect(GSM7_BASIC_TABLE[0x7e]).toBe('ü');
    expect(GSM7_BASIC_TABLE[0x7f]).toBe('à');
    expect(new Set(GSM7_BASIC_TABLE).size).toBe(128);
  });

  test('every basic character but ESC costs 1 septet', () => {
    const printable = [...GSM7_BASIC_TABLE].filter((c) => c !== '\x1b').join('');
    expect(analyzeSms(printable)).toEqual({
      encoding: 'gsm7',
      units: 127,
      segments: 1,
      perSegment: 160,
      characters: 127,
    });
  });

  test('extension table: ^ { } \\ [ ~ ] | € and form feed, 2 septets each', () => {
    expect([...GSM7_EXTENSION_TABLE.values()].sort()).toEqual(
      ['\f', '[', '\\', ']', '^', '{', '|', '}', '~', '€'].sort(),
    );
    expect(GSM7_EXTENSION_TABLE.get(0x65)).toBe('€');
    expect(GSM7_EXTENSION_TABLE.get(0x0a)).toBe('\f');
    for (const char of GSM7_EXTENSION_TABLE.values()) {
      expect(analyzeSms(char)).toMatchObject({ encoding: 'gsm7', units: 2, characters: 1 });
    }
    expect(analyzeSms('^{}\\[~]|€\f').units).toBe(20);
  });

  test('a literal ESC character is not encodable as text → ucs2', () => {
    expect(analyzeSms('a\x1bb').encoding).toBe('ucs2');
  });
});

describe('analyzeSms', () => {
  test('empty text → one gsm7 segment of 0 septets (providers still bill one)', () => {
    expect(analyzeSms('')).toEqual({ encoding: 'gsm7', units: 0, segments: 1, perSegment: 160, characters: 0 });
  });

  test('ü is in the basic table → gsm7', () => {
    expect(analyzeSms('Grüße aus Köln')).toEqual({
      encoding: 'gsm7',
      units: 14,
      segments: 1,
      perSegment: 160,
      characters: 14,
    });
  });

  test('ł is not in GSM-7 → ucs2, 1 unit per BMP character', () => {
    expect(analyzeSms('Łódź')).toEqual({ encoding: 'ucs2', units: 4, segments: 1, perSegment: 70, characters: 4 });
  });

  test('an emoji → ucs2, 2 units (surrogate pair) but 1 character', () => {
    expect(analyzeSms(`ok ${EMOJI}`)).toEqual({
      encoding: 'ucs2',
      units: 5,
      segments: 1,
      perSegment: 70,
      characters: 4,
    });
  });

  test('ç (lowercase) is not folded into Ç → ucs2', () => {
    expect(analyzeSms('français').encoding).toBe('ucs2');
    expect(analyzeSms('FRANÇAIS').encoding).toBe('gsm7');
  });

  test('one non-GSM character turns a long GSM text into ucs2, every character then counts', () => {
    expect(analyzeSms('a'.repeat(100) + 'ł')).toEqual({
      encoding: 'ucs2',
      units: 101,
      segments: 2,
      perSegment: 67,
      characters: 101,
    });
  });

  test('160 GSM characters → 1 segment; 161 → 2 of 153 capacity', () => {
    expect(analyzeSms('a'.repeat(160))).toEqual({
      encoding: 'gsm7',
      units: 160,
      segments: 1,
      perSegment: 160,
      characters: 160,
    });
    expect(analyzeSms('a'.repeat(161))).toEqual({
      encoding: 'gsm7',
      units: 161,
      segments: 2,
      perSegment: 153,
      characters: 161,
    });
  });

  test('306 septets → 2 segments; 307 → 3', () => {
    expect(analyzeSms('a'.repeat(306)).segments).toBe(2);
    expect(analyzeSms('a'.repeat(307)).segments).toBe(3);
  });

  test('€ counts 2: 158 chars + € = 160 septets → 1; 159 + € = 161 → 2', () => {
    expect(analyzeSms('a'.repeat(158) + '€')).toMatchObject({ units: 160, segments: 1, characters: 159 });
    expect(analyzeSms('a'.repeat(159) + '€')).toMatchObject({ units: 161, segments: 2, characters: 160 });
  });

  test('70 UCS-2 units → 1 segment; 71 → 2 of 67 capacity', () => {
    expect(analyzeSms('ł'.repeat(70))).toEqual({
      encoding: 'ucs2',
      units: 70,
      segments: 1,
      perSegment: 70,
      characters: 70,
    });
    expect(analyzeSms('ł'.repeat(71))).toEqual({
      encoding: 'ucs2',
      units: 71,
      segments: 2,
      perSegment: 67,
      characters: 71,
    });
  });

  test('35 emoji = 70 units → 1 segment; 36 emoji = 72 units → 2', () => {
    expect(analyzeSms(EMOJI.repeat(35))).toMatchObject({ units: 70, segments: 1, characters: 35 });
    expect(analyzeSms(EMOJI.repeat(36))).toMatchObject({ units: 72, segments: 2, characters: 36 });
  });

  test('400-character GSM-7 text → gsm7, 400 septets, 3 segments', () => {
    expect(analyzeSms('x'.repeat(400))).toEqual({
      encoding: 'gsm7',
      units: 400,
      segments: 3,
      perSegment: 153,
      characters: 400,
    });
  });

  test('400 characters with 10 € → 410 septets, 3 segments', () => {
    const text = 'a'.repeat(152) + '€' + 'b'.repeat(238) + '€'.repeat(9);
    expect(text).toHaveLength(400);
    expect(analyzeSms(text)).toEqual({ encoding: 'gsm7', units: 410, segments: 3, perSegment: 153, characters: 400 });
  });

  test('100 emoji → ucs2, 200 units, 4 segments (33 emoji a part), not the units-only ceil(200/67) = 3', () => {
    expect(analyzeSms(EMOJI.repeat(100))).toEqual({
      encoding: 'ucs2',
      units: 200,
      segments: 4,
      perSegment: 67,
      characters: 100,
    });
    expect(Math.ceil(200 / 67)).toBe(3);
  });

  test('segments always equals splitSms(text).length', () => {
    const texts = [
      '',
      'hello',
      'a'.repeat(160),
      'a'.repeat(161),
      '€'.repeat(200),
      'ł'.repeat(500),
      EMOJI.repeat(100),
      ('a'.repeat(66) + EMOJI).repeat(7),
      'a'.repeat(152) + '€'.repeat(77),
    ];
    for (const text of texts) expect(analyzeSms(text).segments).toBe(splitSms(text).length);
  });
});

describe('splitSms', () => {
  test('a single-segment text → [text] (the empty text too)', () => {
    expect(splitSms('')).toEqual(['']);
    expect(splitSms('a'.repeat(160))).toEqual(['a'.repeat(160)]);
    expect(splitSms('ł'.repeat(70))).toEqual(['ł'.repeat(70)]);
  });

  test('400-character GSM-7 text → parts of 153 + 153 + 94 septets', () => {
    const text = 'x'.repeat(400);
    const parts = splitSms(text);
    expect(parts.map((p) => p.length)).toEqual([153, 153, 94]);
    expect(parts.join('')).toBe(text);
  });

  test('161 GSM characters → 153 + 8', () => {
    expect(splitSms('a'.repeat(161)).map((p) => p.length)).toEqual([153, 8]);
  });

  test('400 characters with 10 €: an € at septets 153–154 starts part 2, part 1 holds 152', () => {
    const text = 'a'.repeat(152) + '€' + 'b'.repeat(238) + '€'.repeat(9);
    const parts = splitSms(text);
    expect(parts.map(septetsOf)).toEqual([152, 153, 105]);
    expect(parts[0]).toBe('a'.repeat(152));
    expect(parts[1]).toBe('€' + 'b'.repeat(151));
    expect(parts[2]).toBe('b'.repeat(87) + '€'.repeat(9));
    expect(parts.join('')).toBe(text);
  });

  test('159 + € = 161 septets → 153 + 8 (the € fits whole in part 2)', () => {
    const parts = splitSms('a'.repeat(159) + '€');
    expect(parts).toEqual(['a'.repeat(153), 'a'.repeat(6) + '€']);
    expect(parts.map(septetsOf)).toEqual([153, 8]);
  });

  test('all-€ text: every part holds 76 € = 152 septets, never a lone ESC', () => {
    const parts = splitSms('€'.repeat(200));
    expect(parts.map((p) => p.length)).toEqual([76, 76, 48]);
    expect(parts.map(septetsOf)).toEqual([152, 152, 96]);
  });

  test('71 UCS-2 units → 67 + 4', () => {
    expect(splitSms('ł'.repeat(71)).map((p) => p.length)).toEqual([67, 4]);
  });

  test('100 emoji → 4 parts of 66 + 66 + 66 + 2 units (33 + 33 + 33 + 1 emoji), no pair split', () => {
    const text = EMOJI.repeat(100);
    const parts = splitSms(text);
    expect(parts.map((p) => p.length)).toEqual([66, 66, 66, 2]);
    expect(parts.map((p) => [...p].length)).toEqual([33, 33, 33, 1]);
    expectNoBrokenPair(parts);
    expect(parts.join('')).toBe(text);
  });

  test('an emoji at units 67–68 moves whole to the next part: 66 + rest', () => {
    const text = 'ł'.repeat(66) + EMOJI + 'ł'.repeat(10);
    const parts = splitSms(text);
    expect(parts).toEqual(['ł'.repeat(66), EMOJI + 'ł'.repeat(10)]);
    expectNoBrokenPair(parts);
  });

  test('an emoji ending exactly at unit 67 stays in part 1', () => {
    const text = 'ł'.repeat(65) + EMOJI + 'ł'.repeat(10);
    expect(splitSms(text).map((p) => p.length)).toEqual([67, 10]);
  });

  test('parts rejoin to the exact text for mixed content', () => {
    const text = `Dear customer, your code is 1234 {ok} [x] ~ | ^ € ${EMOJI} Łódź 👍🏽 👨‍👩‍👧 `.repeat(9);
    const parts = splitSms(text);
    expect(parts.join('')).toBe(text);
    expect(parts.length).toBe(analyzeSms(text).segments);
    expectNoBrokenPair(parts);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(67);
  });
});
