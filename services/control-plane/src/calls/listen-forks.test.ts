import { forkCallId, pickRule } from './listen-forks';

const rule = (id: string, scope: 'user' | 'number' | 'trunk', value: string) => ({
  id,
  scope,
  value,
  ai_url: null,
  ai_dialect: 'olib' as const,
  custom_parameters: {},
});
const event = { event: 'dialog_start', callid: 'c', from_user: 'alice', to_user: '15550001111', trunk: 'tr1' };

describe('which rule forks a call', () => {
  test('the caller’s user rule wins over the callee’s number rule, which wins over the trunk rule', () => {
    const rules = [rule('1', 'trunk', 'tr1'), rule('2', 'number', '+15550001111'), rule('3', 'user', 'alice')];
    expect(pickRule(rules, event)?.id).toBe('3');
    expect(pickRule(rules.slice(0, 2), event)?.id).toBe('2');
    expect(pickRule(rules.slice(0, 1), event)?.id).toBe('1');
  });

  test('no match → no fork; a trunk rule never matches a call without a trunk', () => {
    expect(pickRule([rule('1', 'user', 'bob')], event)).toBeUndefined();
    expect(pickRule([rule('1', 'trunk', 'tr1')], { ...event, trunk: undefined })).toBeUndefined();
  });

  test('the fork id is short and the same on every replica', () => {
    const id = forkCallId('x'.repeat(1024));
    expect(id).toHaveLength(45);
    expect(forkCallId('x'.repeat(1024))).toBe(id);
  });
});
