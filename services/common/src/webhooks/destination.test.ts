import { AppError } from '../errors';
import { assertWebhookUrl, isPublicAddress, webhookUrlProblem } from './destination';

describe('webhook destinations', () => {
  test.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.5',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    'fc00::2',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.1.2.3',
    '[::1]',
    '64:ff9b::a00:1',
    'not-an-ip',
  ])('%s is not public', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  test.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );

  test('a usable URL → no problem', () => {
    expect(webhookUrlProblem('https://hooks.example.com/calls?x=1', { allowPrivate: false })).toBeNull();
    expect(webhookUrlProblem('http://127.0.0.1:8000/hook', { allowPrivate: true })).toBeNull();
  });

  test.each([
    ['ftp://example.com/x', 'not http'],
    ['javascript:alert(1)', 'not http'],
    ['/relative', 'not an absolute URL'],
    ['https://user:pw@example.com/', 'user name or password'],
    [`https://example.com/${'a'.repeat(2100)}`, 'longer than'],
  ])('%s → refused whatever the address policy (%s)', (url, why) => {
    expect(webhookUrlProblem(url, { allowPrivate: true })).toContain(why);
  });

  test.each([
    'http://127.0.0.1/hook',
    'http://[::1]:8080/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://localhost:3000/',
    'http://api.localhost/',
  ])('%s → refused while private addresses are not allowed', (url) => {
    expect(webhookUrlProblem(url, { allowPrivate: false })).toMatch(/non-public|localhost/);
    expect(webhookUrlProblem(url, { allowPrivate: true })).toBeNull();
  });
});

describe('assertWebhookUrl', () => {
  test('a refused URL → 400 ERR_WEBHOOK_URL_INVALID naming the field and the reason', () => {
    let thrown: unknown;
    try {
      assertWebhookUrl('http://169.254.169.254/latest/', { allowPrivate: false });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).status).toBe(400);
    expect((thrown as AppError).toJSON()).toEqual({
      error: {
        code: 'ERR_WEBHOOK_URL_INVALID',
        message: 'webhook_url names a non-public address (169.254.169.254)',
        field: 'webhook_url',
        reason: 'names a non-public address (169.254.169.254)',
      },
    });
  });

  test('a usable URL passes', () => {
    expect(() => assertWebhookUrl('https://hooks.example.com/x', { allowPrivate: false })).not.toThrow();
  });
});
