import { DEFAULT_DTMF_DURATION_MS, parseDtmfInfo } from './dtmf';

describe('parseDtmfInfo', () => {
  it('dtmf-relay from the Kamailio capture → digit 5, 160 ms', () => {
    expect(parseDtmfInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n')).toEqual({
      digit: '5',
      durationMs: 160,
    });
  });

  it.each([
    ['Signal= #\nDuration= 100', '#', 100],
    ['signal=*\r\nduration=250', '*', 250],
    ['Signal=10\r\nDuration=80', '*', 80],
    ['Signal=11\r\nDuration=80', '#', 80],
    ['Signal=d\r\nDuration=90', 'D', 90],
    ['Signal=7', '7', DEFAULT_DTMF_DURATION_MS],
  ])('dtmf-relay %j → %s for %i ms', (body, digit, durationMs) => {
    expect(parseDtmfInfo('application/dtmf-relay', body)).toEqual({ digit, durationMs });
  });

  it('application/dtmf with a bare key → that key, default duration', () => {
    expect(parseDtmfInfo('application/dtmf', '9\r\n')).toEqual({ digit: '9', durationMs: DEFAULT_DTMF_DURATION_MS });
  });

  it.each([
    ['application/dtmf-relay', 'Signal=X\r\nDuration=100'],
    ['application/dtmf-relay', 'Duration=100'],
    ['application/dtmf', 'hello'],
    ['text/plain', 'Signal=5'],
    [null, 'Signal=5'],
  ])('%s %j → null', (type, body) => {
    expect(parseDtmfInfo(type, body)).toBeNull();
  });
});
