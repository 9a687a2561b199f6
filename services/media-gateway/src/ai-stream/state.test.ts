import { transition, type StreamState } from './state';

describe('transition', () => {
  test.each<[StreamState, StreamState]>([
    ['idle', 'connecting'],
    ['connecting', 'open'],
    ['connecting', 'reconnecting'],
    ['open', 'reconnecting'],
    ['reconnecting', 'connecting'],
    ['open', 'closing'],
    ['closing', 'closed'],
    ['reconnecting', 'closed'],
  ])('%s → %s is allowed', (from, to) => {
    expect(transition(from, to)).toBe(to);
  });

  test.each<[StreamState, StreamState]>([
    ['idle', 'open'],
    ['closed', 'connecting'],
    ['closing', 'open'],
    ['reconnecting', 'open'],
    ['open', 'connecting'],
  ])('%s → %s is a programming error', (from, to) => {
    expect(() => transition(from, to)).toThrow(TypeError);
  });
});
