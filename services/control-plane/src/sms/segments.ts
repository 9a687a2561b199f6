/**
 * How an SMS text is encoded, counted and cut into concatenated parts.
 *
 * Rules from 3GPP TS 23.038 (alphabets) and TS 23.040 (user data length and the
 * concatenation information element). A text is sent in the GSM 7-bit default
 * alphabet when every character is in its basic or extension table, otherwise in
 * UCS-2 — in practice UTF-16, so a character outside the BMP (emoji) costs a
 * surrogate pair, 2 code units.
 *
 * Deliberate deviations / limits:
 * - No national language shift tables (TS 23.038 §6.2.1.2.x): a Turkish or
 *   Portuguese text goes UCS-2 like any other non-default-alphabet text.
 * - No lossy transliteration: 'ç' is not folded to 'Ç', curly quotes are not
 *   straightened; such text goes UCS-2 and is delivered exactly as written.
 * - Parts are cut at code point boundaries, not grapheme boundaries: a ZWJ emoji
 *   sequence or a base letter and its combining mark may land in different parts
 *   (the recipient's phone rejoins them before display).
 */

/** The encoding a text is sent in (TS 23.038 §4 data coding scheme, alphabet bits). */
export type SmsEncoding = 'gsm7' | 'ucs2';

/** The cost of one text as an SMS. */
export interface SmsAnalysis {
  encoding: SmsEncoding;
  /** Septets for `gsm7` (extension characters count 2), UTF-16 code units for `ucs2`. */
  units: number;
  /**
   * Messages the text is sent as, equal to `splitSms(text).length`. Always at least
   * 1: an empty text is still one (billed) message.
   */
  segments: number;
  /** Capacity of one segment in `units`: 160/70 for a single message, 153/67 per part otherwise. */
  perSegment: number;
  /** Unicode code points in the text (an emoji counts 1, a combining accent counts on its own). */
  characters: number;
}

/**
 * Capacities in units. TS 23.040 §9.2.3.16: the user data holds 140 octets, i.e.
 * 160 septets or 70 UCS-2 characters. A concatenated part also carries the user
 * data header 05 00 03 ref total seq (§9.2.3.24.1, 6 octets), which is 7 septets
 * once padded to a septet boundary, or 3 UCS-2 characters.
 */
export const GSM7_SINGLE_SEPTETS = 160;
export const GSM7_PART_SEPTETS = 153;
export const UCS2_SINGLE_UNITS = 70;
export const UCS2_PART_UNITS = 67;

/**
 * 3GPP TS 23.038 §6.2.1 "GSM 7 bit Default Alphabet", indexed by septet value
 * (0x00 '@' … 0x7F 'à'). 0x1B is ESC, the escape to the extension table, not a
 * character of its own.
 */
export const GSM7_BASIC_TABLE: string =
  '@£$¥èéùìòÇ\nØø\rÅå' + // 0x00–0x0F
  'Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ' + // 0x10–0x1F
  ' !"#¤%&\'()*+,-./' + // 0x20–0x2F
  '0123456789:;<=>?' + // 0x30–0x3F
  '¡ABCDEFGHIJKLMNO' + // 0x40–0x4F
  'PQRSTUVWXYZÄÖÑÜ§' + // 0x50–0x5F
  '¿abcdefghijklmno' + // 0x60–0x6F
  'pqrstuvwxyzäöñüà'; // 0x70–0x7F

const GSM7_ESC = 0x1b;

/**
 * 3GPP TS 23.038 §6.2.1.1 "GSM 7 bit default alphabet extension table": septet
 * value after ESC → character. Each costs 2 septets. The table's other defined
 * entries (0x0D CR2, 0x1B SS2) are control codes with no character.
 */
export const GSM7_EXTENSION_TABLE: ReadonlyMap<number, string> = new Map([
  [0x0a, '\f'],
  [0x14, '^'],
  [0x28, '{'],
  [0x29, '}'],
  [0x2f, '\\'],
  [0x3c, '['],
  [0x3d, '~'],
  [0x3e, ']'],
  [0x40, '|'],
  [0x65, '€'],
]);

/** Code point → septets it costs in GSM-7 (1 basic, 2 extension). */
const GSM7_SEPTETS: ReadonlyMap<number, 1 | 2> = (() => {
  const septets = new Map<number, 1 | 2>();
  for (let value = 0; value < GSM7_BASIC_TABLE.length; value++) {
    if (value !== GSM7_ESC) septets.set(GSM7_BASIC_TABLE.charCodeAt(value), 1);
  }
  for (const char of GSM7_EXTENSION_TABLE.values()) septets.set(char.charCodeAt(0), 2);
  return septets;
})();

/** One pass over the text: its encoding, total units and where the parts start (UTF-16 offsets). */
interface Layout {
  encoding: SmsEncoding;
  units: number;
  characters: number;
  /** Start offset of every part after the first; empty for a single message. */
  cuts: number[];
}

function layout(text: string): Layout {
  let encoding: SmsEncoding = 'gsm7';
  let septets = 0;
  let characters = 0;
  for (const char of text) {
    characters++;
    if (encoding === 'gsm7') {
      const cost = GSM7_SEPTETS.get(char.codePointAt(0) ?? 0);
      if (cost === undefined) encoding = 'ucs2';
      else septets += cost;
    }
  }

  const units = encoding === 'gsm7' ? septets : text.length;
  const single = encoding === 'gsm7' ? GSM7_SINGLE_SEPTETS : UCS2_SINGLE_UNITS;
  if (units <= single) return { encoding, units, characters, cuts: [] };

  // TS 23.040 §9.2.3.24.1 concatenation: each part is a complete short message,
  // so an ESC + character pair (TS 23.038 §6.2.1.1) must not straddle two parts —
  // the recipient would show ESC alone and a basic-table character. The same holds
  // for a UTF-16 surrogate pair: real SMSCs and handsets cut before the pair, never
  // inside it, so a part may carry 152 septets or 66 code units. Cutting greedily
  // at character boundaries yields the fewest parts possible under that rule, and
  // that count is what `segments` reports: 100 emoji (200 units) are 4 parts of
  // 33+33+33+1 emoji, not the ceil(200 / 67) = 3 a units-only formula would claim,
  // because 4 messages is what is sent and billed.
  const capacity = encoding === 'gsm7' ? GSM7_PART_SEPTETS : UCS2_PART_UNITS;
  const cuts: number[] = [];
  let used = 0;
  let offset = 0;
  for (const char of text) {
    const cost = encoding === 'gsm7' ? (GSM7_SEPTETS.get(char.codePointAt(0) ?? 0) ?? 1) : char.length;
    if (used + cost > capacity) {
      cuts.push(offset);
      used = 0;
    }
    used += cost;
    offset += char.length;
  }
  return { encoding, units, characters, cuts };
}

/**
 * Encoding, size and segment count of `text` as an SMS. `segments` always equals
 * `splitSms(text).length`, so the count stored for cost is the count sent.
 */
export function analyzeSms(text: string): SmsAnalysis {
  const { encoding, units, characters, cuts } = layout(text);
  const segments = cuts.length + 1;
  const [single, part] =
    encoding === 'gsm7' ? [GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS] : [UCS2_SINGLE_UNITS, UCS2_PART_UNITS];
  const perSegment = segments === 1 ? single : part;
  return { encoding, units, segments, perSegment, characters };
}

/**
 * The parts `text` is sent as: `[text]` when it fits one message, otherwise
 * parts of at most 153 septets / 67 UTF-16 units that never split a GSM-7 escape
 * sequence or a surrogate pair. `parts.join('') === text` always holds.
 */
export function splitSms(text: string): string[] {
  const { cuts } = layout(text);
  if (cuts.length === 0) return [text];
  const parts: string[] = [];
  let start = 0;
  for (const cut of cuts) {
    parts.push(text.slice(start, cut));
    start = cut;
  }
  parts.push(text.slice(start));
  return parts;
}
