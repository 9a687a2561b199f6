import { announcement, expectedWait } from './announce';

describe('queue announcements', () => {
  test('position and wait: next, a number, minutes rounded with at least one', () => {
    expect(announcement(1, 20)).toBe('You are next in the queue. Your expected wait is about 1 minute.');
    expect(announcement(4, 150)).toBe('You are number 4 in the queue. Your expected wait is about 3 minutes.');
  });

  test('either part may be left out; neither → nothing to say', () => {
    expect(announcement(2, null)).toBe('You are number 2 in the queue.');
    expect(announcement(null, 600)).toBe('Your expected wait is about 10 minutes.');
    expect(announcement(null, null)).toBe('');
  });

  test('expected wait: the mean wait scaled by how far forward the caller is', () => {
    expect(expectedWait(120, 5, 5)).toBe(120);
    expect(expectedWait(120, 1, 4)).toBe(30);
    // A caller moved behind more callers than were counted waiting never gets more than the mean per place.
    expect(expectedWait(120, 6, 3)).toBe(120);
    expect(expectedWait(90, 0, 0)).toBe(90);
  });
});
