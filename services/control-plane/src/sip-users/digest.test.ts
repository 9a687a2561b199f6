import { digestHa1, digestHa1b } from './digest';

describe('digest HA1', () => {
  test('md5("alice:example.com:secret") → b1726872c344b6dc8365b774f8fd6412', () => {
    expect(digestHa1('alice', 'example.com', 'secret')).toBe('b1726872c344b6dc8365b774f8fd6412');
  });

  test('HA1B hashes "alice@example.com" as the username → c79656e4f06dbae9fdf6727654273c65', () => {
    expect(digestHa1b('alice', 'example.com', 'example.com', 'secret')).toBe('c79656e4f06dbae9fdf6727654273c65');
  });

  test('RFC 2617 §3.5 example: Mufasa / testrealm@host.com / Circle Of Life → 939e7578ed9e3c518a452acee763bce9', () => {
    expect(digestHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life')).toBe('939e7578ed9e3c518a452acee763bce9');
  });

  test('non-ASCII passwords hash as their UTF-8 bytes → 0239a6c1e9a4b30293abc7e7fa633d50', () => {
    expect(digestHa1('bob', 'r', 'pässwörd')).toBe('0239a6c1e9a4b30293abc7e7fa633d50');
  });
});
