/**
 * Reassembly of concatenated inbound SMS.
 *
 * A long SMS reaches us as one SIP MESSAGE per part, each carrying
 *
 *     X-SMS-Part: ref=<1-65535>; seq=<1..total>; total=<2-255>
 *
 * — the fields of the TS 23.040 §9.2.3.24.1 / §9.2.3.24.8 concatenation element
 * (reference number, sequence number, maximum number of short messages). Parts may
 * arrive in any order, twice, or never; `SmsReassembler` collects them per
 * (from, to, ref) and hands back the whole text once every part is in, or what it
 * has once the group times out.
 *
 * Pure and in-memory: no timers, no I/O, the caller passes `now`. The durable copy
 * of every part is in PostgreSQL; after a restart the caller calls `add()` again
 * for the stored parts to rebuild the state.
 */

/** The fields of an `X-SMS-Part` header. */
export interface SmsPartHeader {
  /** Concatenated message reference, 1–65535 (the 16-bit form, §9.2.3.24.8). */
  ref: number;
  /** This part's position, 1–`total`. */
  seq: number;
  /** How many parts the message has, 2–255. */
  total: number;
}

/** One received part. `id` is the caller's id for it (the stored message row). */
export interface SmsPart extends SmsPartHeader {
  from: string;
  to: string;
  text: string;
  id: string;
}

/** What `add()` returns: the whole message once its last missing part arrives. */
export type SmsAddResult = { complete: true; text: string; ids: string[] } | { complete: false };

/**
 * Why a group left the reassembler incomplete:
 * - `timeout`: `timeoutMs` passed since its first part.
 * - `evicted`: `maxGroups` groups were pending and it was the oldest.
 * - `superseded`: a part with the same (from, to, ref) but a different `total`
 *   arrived — the sender reused the reference for a new message.
 */
export type SmsIncompleteReason = 'timeout' | 'evicted' | 'superseded';

/** An incomplete group given up on; the caller delivers `parts` with a note. */
export interface SmsIncompleteGroup {
  from: string;
  to: string;
  ref: number;
  total: number;
  reason: SmsIncompleteReason;
  /** The parts received, in `seq` order. */
  parts: Array<{ seq: number; text: string; id: string }>;
}

export interface SmsReassemblerOptions {
  /** How long a group may wait for its missing parts, from its first part. Default 10 min. */
  timeoutMs?: number;
  /** Most groups held at once; beyond it the oldest is evicted. Default 10 000. */
  maxGroups?: number;
}

export const SMS_PART_REF_MAX = 65535;
export const SMS_PART_TOTAL_MAX = 255;

const DIGITS = /^[0-9]{1,5}$/;

/**
 * Parses an `X-SMS-Part` header value: `ref`, `seq` and `total` parameters
 * separated by `;`, in any order, names case-insensitive, whitespace ignored,
 * unknown parameters ignored (RFC 3261 §7.3.1 generic-param extensibility).
 * Returns null when a parameter is missing, repeated or not a plain decimal, when
 * ref is outside 1–65535, total outside 2–255 (a single-part message carries no
 * header), or seq outside 1–total.
 */
export function parsePartHeader(value: string): SmsPartHeader | null {
  const fields = new Map<string, number>();
  for (const param of value.split(';')) {
    const eq = param.indexOf('=');
    if (eq < 0) {
      if (param.trim() === '') continue;
      return null;
    }
    const name = param.slice(0, eq).trim().toLowerCase();
    const raw = param.slice(eq + 1).trim();
    if (name !== 'ref' && name !== 'seq' && name !== 'total') continue;
    if (fields.has(name) || !DIGITS.test(raw)) return null;
    fields.set(name, Number(raw));
  }
  const ref = fields.get('ref');
  const seq = fields.get('seq');
  const total = fields.get('total');
  if (ref === undefined || seq === undefined || total === undefined) return null;
  if (ref < 1 || ref > SMS_PART_REF_MAX) return null;
  if (total < 2 || total > SMS_PART_TOTAL_MAX) return null;
  if (seq < 1 || seq > total) return null;
  return { ref, seq, total };
}

interface Group {
  from: string;
  to: string;
  ref: number;
  total: number;
  firstAt: number;
  parts: Map<number, { text: string; id: string }>;
}

/**
 * Collects the parts of concatenated SMS keyed by (from, to, ref).
 *
 * Memory is bounded: at most `maxGroups` pending groups of at most 255 parts, plus
 * at most `maxGroups` given-up groups waiting for the next `expired()` call (older
 * ones beyond that are dropped and counted in `droppedGroups` — their parts are
 * still in the database).
 */
export class SmsReassembler {
  /** Same as the module's `parsePartHeader`, for callers holding only the class. */
  static readonly parsePartHeader = parsePartHeader;

  readonly timeoutMs: number;
  readonly maxGroups: number;
  /** Given-up groups dropped because `expired()` was not called often enough. */
  droppedGroups = 0;

  // Insertion order is first-part order, so the first entry is the oldest group
  // as long as `now` never goes backwards between calls.
  private readonly groups = new Map<string, Group>();
  private readonly givenUp: SmsIncompleteGroup[] = [];

  constructor(options: SmsReassemblerOptions = {}) {
    const { timeoutMs = 10 * 60_000, maxGroups = 10_000 } = options;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    if (!Number.isInteger(maxGroups) || maxGroups < 1)
      throw new TypeError(`maxGroups must be an integer ≥ 1, got ${maxGroups}`);
    this.timeoutMs = timeoutMs;
    this.maxGroups = maxGroups;
  }

  /** Groups waiting for parts. */
  get size(): number {
    return this.groups.size;
  }

  /**
   * Records one part received at `now` (ms). Returns the whole message when this
   * part completes its group: texts joined in `seq` order, ids in `seq` order.
   * A second copy of a `seq` already held is ignored (the first wins).
   * @throws TypeError when ref/seq/total are outside what `parsePartHeader` accepts.
   */
  add(part: SmsPart, now: number): SmsAddResult {
    const { from, to, ref, seq, total } = part;
    if (!Number.isInteger(ref) || ref < 1 || ref > SMS_PART_REF_MAX) throw new TypeError(`ref out of range: ${ref}`);
    if (!Number.isInteger(total) || total < 2 || total > SMS_PART_TOTAL_MAX)
      throw new TypeError(`total out of range: ${total}`);
    if (!Number.isInteger(seq) || seq < 1 || seq > total) throw new TypeError(`seq out of range: ${seq} of ${total}`);

    // NUL cannot occur in a SIP URI user part or an E.164 number.
    const key = `${from}\0${to}\0${ref}`;
    let group = this.groups.get(key);
    if (group && group.total !== total) {
      this.groups.delete(key);
      this.giveUp(group, 'superseded');
      group = undefined;
    }
    if (!group) {
      if (this.groups.size >= this.maxGroups) this.evictOldest();
      group = { from, to, ref, total, firstAt: now, parts: new Map() };
      this.groups.set(key, group);
    } else if (now < group.firstAt) {
      // A rebuild after a restart may replay stored parts out of arrival order.
      group.firstAt = now;
    }

    if (!group.parts.has(seq)) group.parts.set(seq, { text: part.text, id: part.id });
    if (group.parts.size < group.total) return { complete: false };

    this.groups.delete(key);
    const ordered = sortedParts(group);
    return { complete: true, text: ordered.map((p) => p.text).join(''), ids: ordered.map((p) => p.id) };
  }

  /**
   * Removes and returns every group given up on: those whose first part arrived
   * `timeoutMs` or more before `now`, and those evicted or superseded since the
   * last call (returned first, in the order they were given up).
   */
  expired(now: number): SmsIncompleteGroup[] {
    const out = this.givenUp.splice(0);
    for (const [key, group] of this.groups) {
      if (now - group.firstAt >= this.timeoutMs) {
        this.groups.delete(key);
        out.push(toIncomplete(group, 'timeout'));
      }
    }
    return out;
  }

  private evictOldest(): void {
    const oldest = this.groups.entries().next();
    if (oldest.done) return;
    const [key, group] = oldest.value;
    this.groups.delete(key);
    this.giveUp(group, 'evicted');
  }

  private giveUp(group: Group, reason: SmsIncompleteReason): void {
    if (this.givenUp.length >= this.maxGroups) {
      this.givenUp.shift();
      this.droppedGroups++;
    }
    this.givenUp.push(toIncomplete(group, reason));
  }
}

function sortedParts(group: Group): Array<{ seq: number; text: string; id: string }> {
  return [...group.parts].sort(([a], [b]) => a - b).map(([seq, { text, id }]) => ({ seq, text, id }));
}

function toIncomplete(group: Group, reason: SmsIncompleteReason): SmsIncompleteGroup {
  return { from: group.from, to: group.to, ref: group.ref, total: group.total, reason, parts: sortedParts(group) };
}
