import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInside, RecordingFiles, recordingPathIn } from './recording';

describe('recordingPathIn', () => {
  const DIR = '/var/lib/sipai/recordings';

  test('an absolute path inside → itself; a relative name → under the directory', () => {
    expect(recordingPathIn(DIR, '/var/lib/sipai/recordings/abc.wav')).toBe('/var/lib/sipai/recordings/abc.wav');
    expect(recordingPathIn(DIR, 'abc.wav')).toBe('/var/lib/sipai/recordings/abc.wav');
    expect(recordingPathIn(`${DIR}/`, 'sub/abc.wav')).toBe('/var/lib/sipai/recordings/sub/abc.wav');
  });

  test.each([
    ['/etc/passwd'],
    ['../secrets.env'],
    ['/var/lib/sipai/recordings/../secrets.env'],
    ['/var/lib/sipai/recordings-other/abc.wav'],
    ['/var/lib/sipai/recordings'],
    ['.'],
    [''],
    ['abc.wav\0.txt'],
  ])('%j → refused', (stored) => {
    expect(recordingPathIn(DIR, stored)).toBeNull();
  });

  test('a name starting with two dots inside the directory → allowed', () => {
    expect(isInside('/r', '/r/..call.wav')).toBe(true);
    expect(isInside('/r', '/r/..')).toBe(false);
  });
});

describe('RecordingFiles', () => {
  let base: string;
  let dir: string;
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) };

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'calls-recording-'));
    dir = join(base, 'recordings');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'call.wav'), Buffer.alloc(100, 1));
    writeFileSync(join(base, 'secret.txt'), 'do not serve');
    symlinkSync(join(base, 'secret.txt'), join(dir, 'link-out.wav'));
    symlinkSync(join(dir, 'call.wav'), join(dir, 'link-in.wav'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  beforeEach(() => warnings.splice(0));

  test('a file inside → its real path and size', async () => {
    const files = new RecordingFiles(dir, logger);
    await expect(files.locate(join(dir, 'call.wav'))).resolves.toEqual({ path: join(dir, 'call.wav'), bytes: 100 });
  });

  test('a file outside (by path or by ..) → null and a warning, never read', async () => {
    const files = new RecordingFiles(dir, logger);
    await expect(files.locate(join(base, 'secret.txt'))).resolves.toBeNull();
    await expect(files.open(join(dir, '..', 'secret.txt'))).resolves.toBeNull();
    expect(warnings).toHaveLength(2);
  });

  test('a link inside pointing outside → null and a warning; a link to a file inside → that file', async () => {
    const files = new RecordingFiles(dir, logger);
    await expect(files.open(join(dir, 'link-out.wav'))).resolves.toBeNull();
    expect(warnings).toEqual([expect.stringMatching(/link to outside/)]);
    await expect(files.locate(join(dir, 'link-in.wav'))).resolves.toEqual({ path: join(dir, 'call.wav'), bytes: 100 });
  });

  test('missing file, a directory, a missing recordings directory → null', async () => {
    await expect(new RecordingFiles(dir, logger).locate(join(dir, 'gone.wav'))).resolves.toBeNull();
    await expect(new RecordingFiles(dir, logger).locate(join(dir, 'sub'))).resolves.toBeNull();
    await expect(
      new RecordingFiles(join(base, 'nowhere'), logger).locate(join(base, 'nowhere', 'call.wav')),
    ).resolves.toBeNull();
  });

  test('open → size and a stream of exactly the file', async () => {
    const opened = await new RecordingFiles(dir, logger).open('call.wav');
    expect(opened?.bytes).toBe(100);
    const chunks: Buffer[] = [];
    for await (const chunk of opened?.stream ?? []) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(100, 1));
  });
});
