import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import type { DialogView } from '../kamailio/dialogs';
import { activeCalls, proxiedDialogId, type LiveCallRow } from './control-active';
import { commandError } from './control';
import { ACTIVE_CALL_PAGE_SCHEMA } from './schemas';

const NOW = Date.parse('2026-03-01T10:05:00.000Z');

function row(fields: Partial<LiveCallRow> = {}): LiveCallRow {
  return {
    call_id: '5f1c2d3e-0000-4000-8000-000000000001',
    sip_call_id: 'ai-leg@10.0.0.1',
    direction: 'inbound',
    from_number: '+14155550100',
    to_number: '+15557770001',
    route: 'ai|15557770001',
    ai_dialect: 'olib',
    ai_url: 'ws://user:secret@127.0.0.1:8090',
    codec: 'PCMA',
    state: 'active',
    gateway: 'gw-1',
    started_at: new Date('2026-03-01T10:04:00.000Z'),
    answered_at: null,
    on_hold: false,
    trunk_id: null,
    recording_path: null,
    ...fields,
  };
}

function dialog(fields: Partial<DialogView> = {}): DialogView {
  return {
    dialog_id: '1234.5678',
    call_id: 'user-call@10.0.0.9',
    state: 'confirmed',
    from_uri: 'sip:alice@example.com',
    to_uri: 'sip:bob@example.com',
    caller: 'alice',
    callee: 'bob',
    trunk_id: null,
    started_at: '2026-03-01T10:03:00.000Z',
    duration_seconds: 120,
    expires_at: null,
    end_reason: null,
    ...fields,
  };
}

const QUERY = { page: 1, per_page: 50 };
const validate = addFormats(new Ajv({ strict: false })).compile(ACTIVE_CALL_PAGE_SCHEMA);

describe('activeCalls', () => {
  test('an AI call and a user-to-user dialog → both, newest first, each in the documented shape', () => {
    const page = activeCalls({ rows: [row()], dialogs: [dialog()], ourNumbers: new Set(), query: QUERY, nowMs: NOW });
    expect(validate(page)).toBe(true);
    expect(page).toMatchObject({ total: 2, kamailio: 'ok' });
    expect(page.items.map((c) => [c.call_id, c.kind, c.direction, c.state])).toEqual([
      ['5f1c2d3e-0000-4000-8000-000000000001', 'ai', 'inbound', 'active'],
      ['kd-1234-5678', 'proxied', 'internal', 'active'],
    ]);
    expect(page.items[0]).toMatchObject({ duration_seconds: 60, on_hold: false, codec: 'PCMA' });
    // The AI URL's password is never shown.
    expect(page.items[0]!.ai!.url).toBe('ws://127.0.0.1:8090/');
    expect(page.items[1]).toMatchObject({
      from_number: 'alice',
      to_number: 'bob',
      on_hold: null,
      duration_seconds: 120,
    });
  });

  test("the AI call's own Kamailio dialog (same SIP Call-ID) → listed once, as the AI call", () => {
    const page = activeCalls({
      rows: [row()],
      dialogs: [dialog({ call_id: 'ai-leg@10.0.0.1', callee: '15557770001' })],
      ourNumbers: new Set(['15557770001']),
      query: QUERY,
      nowMs: NOW,
    });
    expect(page.items.map((c) => c.kind)).toEqual(['ai']);
  });

  test('direction of proxied calls: a trunk to one of our numbers → inbound, to another number → outbound, no trunk → internal', () => {
    const page = activeCalls({
      rows: [],
      dialogs: [
        dialog({ dialog_id: '1.1', call_id: 'a', trunk_id: 'carrier', caller: '14155550100', callee: '15557770002' }),
        dialog({ dialog_id: '1.2', call_id: 'b', trunk_id: 'carrier', caller: 'alice', callee: '14155550199' }),
        dialog({ dialog_id: '1.3', call_id: 'c' }),
      ],
      ourNumbers: new Set(['15557770002']),
      query: QUERY,
      nowMs: NOW,
    });
    expect(page.items.map((c) => [c.call_id, c.direction, c.trunk_id])).toEqual([
      ['kd-1-1', 'inbound', 'carrier'],
      ['kd-1-2', 'outbound', 'carrier'],
      ['kd-1-3', 'internal', null],
    ]);
  });

  test('early dialogs → ringing; ended ones (kept for the CDR) → left out', () => {
    const page = activeCalls({
      rows: [],
      dialogs: [dialog({ dialog_id: '1.1', state: 'early' }), dialog({ dialog_id: '1.2', state: 'ended' })],
      ourNumbers: new Set(),
      query: QUERY,
      nowMs: NOW,
    });
    expect(page.items.map((c) => [c.call_id, c.state])).toEqual([['kd-1-1', 'ringing']]);
  });

  test('Kamailio unavailable (dialogs null) → the AI calls, kamailio: unavailable', () => {
    const page = activeCalls({ rows: [row()], dialogs: null, ourNumbers: new Set(), query: QUERY, nowMs: NOW });
    expect(page).toMatchObject({ total: 1, kamailio: 'unavailable' });
    expect(validate(page)).toBe(true);
  });

  test('filters match digits with or without "+"; pagination over both kinds', () => {
    const rows = [row({ call_id: 'a' }), row({ call_id: 'b', from_number: '+19995550000' })];
    const dialogs = [dialog({ caller: '14155550100' })];
    const filtered = activeCalls({
      rows,
      dialogs,
      ourNumbers: new Set(),
      query: { ...QUERY, from_number: ' 14155550100' },
      nowMs: NOW,
    });
    expect(filtered.items.map((c) => c.call_id)).toEqual(['a', 'kd-1234-5678']);
    const second = activeCalls({ rows, dialogs, ourNumbers: new Set(), query: { page: 2, per_page: 2 }, nowMs: NOW });
    expect([second.total, second.items.map((c) => c.call_id)]).toEqual([3, ['kd-1234-5678']]);
  });
});

describe('proxiedDialogId', () => {
  test.each([
    ['kd-12-34', '12.34'],
    ['kd-0-1', '0.1'],
    ['kd-12', null],
    ['kd-12-34-5', null],
    ['kd-99999999999-1', null],
    ['5f1c2d3e-0000-4000-8000-000000000001', null],
  ])('%s → %s', (id, expected) => {
    expect(proxiedDialogId(id)).toBe(expected);
  });
});

describe('commandError', () => {
  test('a call-control code from the gateway → the API error of that code, with its details', () => {
    const err = commandError('c1', {
      ok: false,
      code: 'ERR_CALL_TRANSFER_FAILED',
      message: 'target busy',
      sip_status: 486,
    });
    expect([err.code, err.status, err.details]).toEqual(['ERR_CALL_TRANSFER_FAILED', 409, { sip_status: 486 }]);
    expect(err.message).toContain('target busy');
  });

  test('an unknown code → 502 ERR_CALL_COMMAND_FAILED, neither its message nor its details', () => {
    const err = commandError('c1', { ok: false, code: 'ERR_SOMETHING', message: 'stack trace here', path: '/x' });
    expect([err.code, err.status, err.details]).toEqual(['ERR_CALL_COMMAND_FAILED', 502, {}]);
    expect(err.message).not.toContain('stack trace');
  });

  test.each([
    ['ERR_CALL_NOT_ACTIVE', 409],
    ['ERR_CALL_GATEWAY_LOST', 410],
    ['ERR_CALL_COMMAND_TIMEOUT', 504],
    ['ERR_CALL_COMMAND_UNSUPPORTED', 409],
  ])('%s → %i', (code, status) => {
    expect(commandError('c1', { ok: false, code, message: 'x' }).status).toBe(status);
  });
});
