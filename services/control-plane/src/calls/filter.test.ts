import { callFilter, numberSpellings } from './filter';

describe('numberSpellings', () => {
  test('digits with or without "+" → both spellings', () => {
    expect(numberSpellings('+14155550100')).toEqual(['14155550100', '+14155550100']);
    expect(numberSpellings('14155550100')).toEqual(['14155550100', '+14155550100']);
  });

  test('an unencoded "+" read as a space → both spellings', () => {
    expect(numberSpellings(' 14155550100')).toEqual(['14155550100', '+14155550100']);
  });

  test('a SIP user name → matched as given', () => {
    expect(numberSpellings('alice')).toEqual(['alice']);
    expect(numberSpellings('+1-415')).toEqual(['+1-415']);
  });
});

describe('callFilter', () => {
  test('no filters → empty filter', () => {
    expect(callFilter({})).toEqual({});
  });

  test('every filter → store filter with spellings and dates', () => {
    expect(
      callFilter({
        state: 'ended',
        from_number: '+14155550100',
        to_number: 'ivr-main',
        started_after: '2026-03-01T10:00:00Z',
        started_before: '2026-03-01T11:00:00+01:00',
      }),
    ).toEqual({
      state: 'ended',
      from_number: ['14155550100', '+14155550100'],
      to_number: ['ivr-main'],
      started_after: new Date('2026-03-01T10:00:00.000Z'),
      started_before: new Date('2026-03-01T10:00:00.000Z'),
    });
  });
});
