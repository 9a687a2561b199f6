import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestHa1 } from '../../services/control-plane/src/sip-users/digest';
import { api, token } from '../support/api';
import { testStack, type TestStack } from '../support/stack';
import { startInProcessApp, type InProcessApp } from './in-process';

interface Created {
  id: number;
  username: string;
  credentials: { password: string };
}

/**
 * Drives every path that sees a password or a token, and returns each secret that
 * went over the wire, so the caller can look for them where they must not be.
 */
async function exercise(
  stack: TestStack,
  tag: string,
): Promise<{ shownOnce: string[]; never: string[]; bodies: string[] }> {
  const admin = await token('admin', 600, stack);
  const operator = await token('operator', 600, stack);
  const bodies: string[] = [];
  const call = async <T>(method: string, path: string, body?: unknown, bearer = admin): Promise<T> => {
    const res = await api<T>(method, path, { token: bearer, body, stack });
    bodies.push(JSON.stringify(res.body));
    return res.body;
  };
  const username = `sec${tag}${Date.now().toString(36)}`;
  const chosen = `chosen-${tag}-Pa55word`;
  const created = await call<Created>('POST', '/api/sip-users/', { username, password: chosen });
  const changed = `changed-${tag}-Pa55word`;
  await call('PUT', `/api/sip-users/${created.id}`, { password: changed });
  const reset = await call<Created>('PUT', `/api/sip-users/${created.id}`, { reset_password: true });
  const bulkPassword = `bulk-${tag}-Pa55word`;
  const bulk = await call<{ users: Created[] }>('POST', '/api/sip-users/bulk-create', {
    users: [{ username: `${username}b`, password: bulkPassword }, { username: `${username}c` }],
  });
  const rejected = `rejected-${tag}-Pa55word`;
  await call('POST', '/api/sip-users/', { username: 'x', password: rejected });
  await call('POST', '/api/sip-users/bulk-create', {
    users: [{ username: `${username}d`, password: rejected, bogus: 1 }],
  });
  await call('GET', `/api/sip-users/${created.id}`);
  await call('GET', `/api/sip-users/?search=${username}`);
  await call('GET', `/api/sip-users/${created.id}/credentials`);
  await call('GET', `/api/sip-users/${created.id}/stats`);
  await call('GET', '/api/sip-users/', undefined, operator);
  await call('GET', '/api/config/status', undefined, operator);
  await call('GET', '/api/sip-users/', undefined, `${admin}tampered`);
  const { domain } = stack.config.sip;
  return {
    // Passwords set by these requests: each may appear in the one response that set it.
    shownOnce: [chosen, changed, reset.credentials.password, ...bulk.users.map((u) => u.credentials.password)],
    never: [
      rejected,
      admin,
      operator,
      digestHa1(username, domain, chosen),
      digestHa1(username, domain, changed),
      stack.config.secrets.jwtSecretKey,
      stack.config.secrets.sipJwtSecret,
      stack.config.secrets.sipSharedSecret,
    ],
    bodies,
  };
}

function leaks(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => text.includes(s));
}

describe('secrets never leave: passwords, HA1, tokens, signing keys', () => {
  let app: InProcessApp;

  beforeAll(async () => {
    app = await startInProcessApp({ LOG_LEVEL: 'debug' });
  });
  afterAll(() => app.close());

  test('the in-process app logs every request at debug level, and no secret appears in any line', async () => {
    const { shownOnce, never } = await exercise(app.stack, 'ip');
    const secrets = [...shownOnce, ...never];
    const logs = app.logs();
    expect(logs).toContain('"message":"http request"');
    expect(logs).toContain('"route":"/api/sip-users/"');
    expect(leaks(logs, secrets)).toEqual([]);
    expect(logs).not.toMatch(/authorization|bearer /i);
  });

  test('responses show a password only in the response that set it; never HA1 or a token', async () => {
    const { shownOnce, never, bodies } = await exercise(testStack(), 'rs');
    expect(shownOnce).toHaveLength(5);
    for (const password of shownOnce) {
      expect([password, bodies.filter((b) => b.includes(password)).length]).toEqual([password, 1]);
    }
    const all = bodies.join('\n');
    expect(leaks(all, never)).toEqual([]);
    expect(all).not.toMatch(/"ha1b?"/);
  });

  test("the running control-plane's log file holds none of them either", async () => {
    const { shownOnce, never } = await exercise(testStack(), 'lf');
    const secrets = [...shownOnce, ...never];
    const logFile = join(testStack().config.stateDir, 'logs', 'control-plane.log');
    expect(existsSync(logFile)).toBe(true);
    expect(leaks(readFileSync(logFile, 'utf8'), secrets)).toEqual([]);
  });
});
