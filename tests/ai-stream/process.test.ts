import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AiStream } from '../../services/media-gateway/src/ai-stream/ai-stream';
import { REPO_ROOT } from '../../scripts/stack/env';
import { paced, Recorder, SECRETS, streamOptions, toneFrames, waitFor } from './support/harness';

describe('the demo agent process', () => {
  test('starts from the environment, logs "demo-agent listening on ws://host:port", serves a call, stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['-r', join(__dirname, 'support', 'register-ts.js'), join(REPO_ROOT, 'services', 'demo-agent', 'src', 'main.ts')],
      {
        env: {
          PATH: process.env['PATH'],
          DEMO_AGENT_HOST: '127.0.0.1',
          DEMO_AGENT_PORT: '0',
          DEMO_AGENT_MODE: 'echo',
          JWT_SECRET_KEY: SECRETS.jwtSecretKey,
          SIP_SHARED_SECRET: SECRETS.sipSharedSecret,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitFor('the listening line', () => lines.some((l) => l.includes('demo-agent listening on ws://')), 45_000);
      const listening = JSON.parse(lines.find((l) => l.includes('demo-agent listening on')) as string) as {
        message: string;
        voice: string;
        mode: string;
      };
      const url = /ws:\/\/127\.0\.0\.1:\d+/.exec(listening.message)?.[0] as string;
      expect(listening).toMatchObject({ mode: 'echo', voice: expect.stringMatching(/^(espeak-ng|tones)$/) });

      const stream = new AiStream(streamOptions(url, 'olib'));
      const heard = new Recorder(stream);
      await stream.start();
      await paced(stream, toneFrames(5));
      await waitFor('the echo', () => heard.samples === 5 * 320);
      await stream.end('caller_hangup');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(lines.some((l) => l.includes('demo-agent stopped'))).toBe(true);
  }, 60_000);
});
