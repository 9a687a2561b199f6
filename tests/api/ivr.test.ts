import { writeWav } from '../../services/common/src/audio/wav';
import { toInt16, tone } from '../../services/common/src/audio/signals';
import { api, createUser, token, type ApiResponse } from '../support/api';
import { testStack } from '../support/stack';
import { startInProcessApp, type InProcessApp } from './in-process';

/**
 * AI routes, IVR menus and prompts against the test stack's control-plane and
 * PostgreSQL: what is stored, what validation refuses (dangling targets, silent
 * loops, numbers that are not E.164) and what deletes refuse while something still
 * names the thing. Names carry a per-run suffix so runs never meet.
 */

interface ErrorBody {
  error: {
    code: string;
    message: string;
    target?: string;
    field?: string;
    cycle?: string[];
    used_by?: string[];
    reason?: string;
    fields?: Array<{ field: string; message: string }>;
  };
}
interface MenuBody {
  name: string;
  description: string | null;
  definition: Record<string, unknown>;
  version: number;
}
interface PromptBody {
  name: string;
  bytes: number;
  sha256: string;
  duration_ms: number;
}

const run = Math.random().toString(36).slice(2, 8);
const n = (base: string): string => `${base}-${run}`;

const op = <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> =>
  api<T>(method, path, { role: 'operator', body });

/** One second of a 440 Hz tone, 16-bit PCM at 8 kHz. */
function toneWav(seconds = 1, rate = 8000): Buffer {
  return writeWav(toInt16(tone(rate * seconds, rate, 440, 8000)), rate);
}

async function putPrompt(
  name: string,
  body: Buffer | string,
  contentType = 'audio/wav',
): Promise<ApiResponse<PromptBody & ErrorBody>> {
  const res = await fetch(`${testStack().apiUrl}/api/ivr/prompts/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${await token('operator')}`, 'content-type': contentType },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as PromptBody & ErrorBody };
}

const QUEUE = n('q-sales');
const ROUTE = n('ai-sales');
const PROMPT = n('welcome');
let user: string;

beforeAll(async () => {
  user = (await createUser()).username;
  expect((await op('POST', '/api/queues/', { name: QUEUE })).status).toBe(201);
  expect((await op('POST', '/api/ai-routes/', { name: ROUTE, max_concurrent_calls: 2 })).status).toBe(201);
  expect((await putPrompt(PROMPT, toneWav())).status).toBe(201);
});

function fullMenu(): Record<string, unknown> {
  return {
    prompt: { file: PROMPT },
    options: {
      '1': { type: 'queue', queue: QUEUE, priority: 5 },
      '2': { type: 'sip_user', username: user },
      '3': { type: 'external', number: '+442079460999' },
      '0': { type: 'ai', ai_route: ROUTE },
      '*': { type: 'repeat' },
    },
    timeout_seconds: 4,
    timeout_action: { type: 'repeat' },
    max_retries: 2,
    retries_exhausted_action: { type: 'hangup', reason: 'no_choice' },
  };
}

describe('IVR menus: stored after every target checks out', () => {
  test('a menu naming a queue, a SIP user, an external number, an AI route and a prompt → 201, version 1; GET and list show it', async () => {
    const name = n('main');
    const res = await op<MenuBody>('POST', '/api/ivr/menus/', { name, description: 'Main', definition: fullMenu() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name, description: 'Main', version: 1, definition: fullMenu() });
    expect((await op<MenuBody>('GET', `/api/ivr/menus/${name}`)).body.definition).toEqual(fullMenu());
    const list = await op<{ items: MenuBody[]; total: number }>('GET', '/api/ivr/menus/?per_page=200');
    expect(list.body.items.map((m) => m.name)).toContain(name);
    const again = await op<ErrorBody>('POST', '/api/ivr/menus/', { name, definition: fullMenu() });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ERR_IVR_MENU_EXISTS');
  });

  test.each([
    ['queue', { '1': { type: 'queue', queue: 'nope' } }, "queue 'nope'", 'definition.options[1].queue'],
    [
      'SIP user',
      { '2': { type: 'sip_user', username: 'nobody-here' } },
      "SIP user 'nobody-here'",
      'definition.options[2].username',
    ],
    ['AI route', { '0': { type: 'ai', ai_route: 'nope' } }, "AI route 'nope'", 'definition.options[0].ai_route'],
    [
      'AI number',
      { '0': { type: 'ai', number: '+442079469999' } },
      "AI number '+442079469999'",
      'definition.options[0].number',
    ],
    ['menu', { '5': { type: 'menu', menu: 'nope' } }, "menu 'nope'", 'definition.options[5].menu'],
  ])('a dangling %s → 400 ERR_IVR_TARGET_NOT_FOUND naming it', async (_what, options, target, field) => {
    const name = n('dangling');
    const res = await op<ErrorBody>('POST', '/api/ivr/menus/', {
      name,
      definition: { prompt: { text: 'Hello' }, options },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target, field });
    expect(res.body.error.message).toContain(target);
    expect((await op('GET', `/api/ivr/menus/${name}`)).status).toBe(404);
  });

  test('a prompt file that was never uploaded → 400 naming the prompt', async () => {
    const res = await op<ErrorBody>('POST', '/api/ivr/menus/', {
      name: n('noprompt'),
      definition: { prompt: { file: 'never-uploaded' }, options: {} },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "prompt 'never-uploaded'" });
  });

  test('an external number libphonenumber refuses → 400 ERR_VALIDATION naming the field', async () => {
    const res = await op<ErrorBody>('POST', '/api/ivr/menus/', {
      name: n('badnum'),
      definition: { prompt: { text: 'x' }, options: { '9': { type: 'external', number: '+999123' } } },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    expect(res.body.error.fields?.[0]?.field).toBe('definition.options[9].number');
  });

  test('shape errors → 400 ERR_VALIDATION naming the field (an ai action with two targets, an unknown key)', async () => {
    const res = await op<ErrorBody>('POST', '/api/ivr/menus/', {
      name: n('shape'),
      definition: {
        prompt: { text: 'x' },
        options: { '1': { type: 'queue', queue: QUEUE, username: 'x' }, x: { type: 'repeat' } },
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_VALIDATION');
    const fields = (res.body.error.fields ?? []).map((f) => f.field);
    expect(fields).toContain('definition.options[1].username');
    expect(fields.some((f) => f.startsWith('definition.options'))).toBe(true);
  });

  test('menus that loop through timeout and invalid actions only → 400 ERR_IVR_CYCLE naming the loop; a key press in the loop is fine', async () => {
    const a = n('loop-a');
    const b = n('loop-b');
    expect(
      (await op('POST', '/api/ivr/menus/', { name: b, definition: { prompt: { text: 'b' }, options: {} } })).status,
    ).toBe(201);
    expect(
      (
        await op('POST', '/api/ivr/menus/', {
          name: a,
          definition: { prompt: { text: 'a' }, options: {}, timeout_action: { type: 'menu', menu: b } },
        })
      ).status,
    ).toBe(201);
    const loop = await op<ErrorBody>('PUT', `/api/ivr/menus/${b}`, {
      definition: { prompt: { text: 'b' }, options: {}, invalid_action: { type: 'menu', menu: a } },
    });
    expect(loop.status).toBe(400);
    expect(loop.body.error.code).toBe('ERR_IVR_CYCLE');
    expect(loop.body.error.cycle).toEqual([b, a, b]);
    expect(loop.body.error.message).toContain(`${b} (invalid_action) → ${a} (timeout_action) → ${b}`);
    // The same link behind a key: the caller chose to go round.
    const keyed = await op<MenuBody>('PUT', `/api/ivr/menus/${b}`, {
      definition: { prompt: { text: 'b' }, options: { '1': { type: 'menu', menu: a } } },
    });
    expect(keyed.status).toBe(200);
    expect(keyed.body.version).toBe(2);
    // A menu timing out into itself loops too.
    const self = await op<ErrorBody>('POST', '/api/ivr/menus/validate', {
      name: n('self'),
      definition: { prompt: { text: 's' }, options: {}, retries_exhausted_action: { type: 'menu', menu: n('self') } },
    });
    expect(self.status).toBe(400);
    expect(self.body.error).toMatchObject({ code: 'ERR_IVR_CYCLE', cycle: [n('self'), n('self')] });
  });

  test('POST /validate → 200 {valid: true} for a good menu, 400 like a create for a dangling one; nothing is stored', async () => {
    const name = n('checked');
    const ok = await op('POST', '/api/ivr/menus/validate', { name, definition: fullMenu() });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ valid: true });
    const bad = await op<ErrorBody>('POST', '/api/ivr/menus/validate', {
      name,
      definition: { prompt: { text: 'x' }, options: { '1': { type: 'queue', queue: 'sales-nope' } } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "queue 'sales-nope'" });
    expect((await op('GET', `/api/ivr/menus/${name}`)).status).toBe(404);
  });

  test('POST /{name}/validate re-checks a stored menu: a SIP user deleted since → 400 naming it', async () => {
    const victim = await createUser();
    const name = n('recheck');
    expect(
      (
        await op('POST', '/api/ivr/menus/', {
          name,
          definition: { prompt: { text: 'x' }, options: { '1': { type: 'sip_user', username: victim.username } } },
        })
      ).status,
    ).toBe(201);
    expect((await op('POST', `/api/ivr/menus/${name}/validate`)).body).toEqual({ valid: true });
    expect((await api('DELETE', `/api/sip-users/${victim.id}`, { role: 'admin' })).status).toBe(200);
    const res = await op<ErrorBody>('POST', `/api/ivr/menus/${name}/validate`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_IVR_TARGET_NOT_FOUND',
      target: `SIP user '${victim.username}'`,
      field: 'definition.options[1].username',
    });
    expect((await op<ErrorBody>('POST', `/api/ivr/menus/${n('never')}/validate`)).body.error.code).toBe(
      'ERR_IVR_MENU_NOT_FOUND',
    );
  });

  test('an update bumps the version; a description-only update too', async () => {
    const name = n('versions');
    await op('POST', '/api/ivr/menus/', { name, definition: { prompt: { text: 'v1' }, options: {} } });
    const v2 = await op<MenuBody>('PUT', `/api/ivr/menus/${name}`, {
      definition: { prompt: { text: 'v2' }, options: {} },
    });
    expect(v2.body).toMatchObject({ version: 2, definition: { prompt: { text: 'v2' } } });
    const v3 = await op<MenuBody>('PUT', `/api/ivr/menus/${name}`, { description: 'now described' });
    expect(v3.body).toMatchObject({ version: 3, description: 'now described', definition: { prompt: { text: 'v2' } } });
  });

  test('deleting a menu another menu or a number names → 409 ERR_IVR_MENU_IN_USE listing them; unreferenced → 200', async () => {
    const sub = n('sub');
    const top = n('top');
    await op('POST', '/api/ivr/menus/', { name: sub, definition: { prompt: { text: 'sub' }, options: {} } });
    await op('POST', '/api/ivr/menus/', {
      name: top,
      definition: { prompt: { text: 'top' }, options: { '4': { type: 'menu', menu: sub } } },
    });
    const number = `+44207946${String(Math.floor(Math.random() * 9000) + 1000)}`;
    await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
    expect((await op('POST', '/api/numbers/', { number, route_type: 'ivr', target: sub })).status).toBe(201);
    const refused = await op<ErrorBody>('DELETE', `/api/ivr/menus/${sub}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ERR_IVR_MENU_IN_USE');
    expect(refused.body.error.used_by).toEqual([`number ${number}`, `menu '${top}' (options[4].menu)`]);
    await op('DELETE', `/api/numbers/${encodeURIComponent(number)}`);
    expect((await op('DELETE', `/api/ivr/menus/${top}`)).status).toBe(200);
    expect((await op('DELETE', `/api/ivr/menus/${sub}`)).body).toEqual({ name: sub, deleted: true });
    expect((await op('GET', `/api/ivr/menus/${sub}`)).status).toBe(404);
  });
});

describe('IVR prompts: WAV uploads', () => {
  test('PUT a WAV → 201 with its duration and hash; again → 200; GET metadata and /audio give it back byte for byte', async () => {
    const name = n('greeting.en');
    const wav = toneWav(2, 16000);
    const first = await putPrompt(name, wav);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name, bytes: wav.length, duration_ms: 2000 });
    expect(first.body.sha256).toMatch(/^[0-9a-f]{64}$/);
    const shorter = toneWav(1);
    const second = await putPrompt(name, shorter);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ bytes: shorter.length, duration_ms: 1000 });
    expect((await op<PromptBody>('GET', `/api/ivr/prompts/${name}`)).body.duration_ms).toBe(1000);
    const audio = await fetch(`${testStack().apiUrl}/api/ivr/prompts/${name}/audio`, {
      headers: { authorization: `Bearer ${await token('operator')}` },
    });
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toMatch(/^audio\/wav/);
    expect(Buffer.from(await audio.arrayBuffer()).equals(shorter)).toBe(true);
    const list = await op<{ items: PromptBody[] }>('GET', '/api/ivr/prompts/?per_page=200');
    expect(list.body.items.map((p) => p.name)).toContain(name);
  });

  test('not a WAV → 400 ERR_IVR_PROMPT_INVALID with the reason; text/plain → 415; over 10 MiB → 413; nothing stored', async () => {
    const name = n('junk');
    const junk = await putPrompt(name, Buffer.from('definitely not RIFF data'));
    expect(junk.status).toBe(400);
    expect(junk.body.error).toMatchObject({ code: 'ERR_IVR_PROMPT_INVALID', reason: 'not a RIFF/WAVE file' });
    const float = Buffer.from(toneWav());
    float.writeUInt16LE(3, 20); // format 3: IEEE float
    expect((await putPrompt(name, float)).body.error.code).toBe('ERR_IVR_PROMPT_INVALID');
    const text = await putPrompt(name, 'hello', 'text/plain');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
    const big = await putPrompt(name, Buffer.alloc(11 * 1024 * 1024));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect((await op<ErrorBody>('GET', `/api/ivr/prompts/${name}`)).body.error.code).toBe('ERR_IVR_PROMPT_NOT_FOUND');
  });

  test('deleting a prompt a menu plays → 409 ERR_IVR_PROMPT_IN_USE; once the menu is gone → 200', async () => {
    const prompt = n('busy-prompt');
    const menu = n('uses-prompt');
    await putPrompt(prompt, toneWav());
    await op('POST', '/api/ivr/menus/', { name: menu, definition: { prompt: { file: prompt }, options: {} } });
    const refused = await op<ErrorBody>('DELETE', `/api/ivr/prompts/${prompt}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'ERR_IVR_PROMPT_IN_USE',
      used_by: [`menu '${menu}' (prompt.file)`],
    });
    await op('DELETE', `/api/ivr/menus/${menu}`);
    expect((await op('DELETE', `/api/ivr/prompts/${prompt}`)).status).toBe(200);
  });
});

describe('AI routes', () => {
  test('create, get, update, list; a queue that does not exist → 400 naming it; delete while a menu names it → 409', async () => {
    const name = n('ai-support');
    const created = await op('POST', '/api/ai-routes/', {
      name,
      agent_url: 'ws://127.0.0.1:9/agent',
      dialect: 'twilio',
      options: { greeting: 'Support' },
      max_concurrent_calls: 3,
      queue: QUEUE,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name,
      agent_url: 'ws://127.0.0.1:9/agent',
      dialect: 'twilio',
      options: { greeting: 'Support' },
      max_concurrent_calls: 3,
      queue: QUEUE,
      active_calls: 0,
    });
    const updated = await op('PUT', `/api/ai-routes/${name}`, { max_concurrent_calls: null, queue: null });
    expect(updated.body).toMatchObject({ max_concurrent_calls: null, queue: null, dialect: 'twilio' });
    const dangling = await op<ErrorBody>('PUT', `/api/ai-routes/${name}`, { queue: 'no-such-queue' });
    expect(dangling.status).toBe(400);
    expect(dangling.body.error).toMatchObject({ code: 'ERR_IVR_TARGET_NOT_FOUND', target: "queue 'no-such-queue'" });
    const menu = n('to-ai');
    await op('POST', '/api/ivr/menus/', {
      name: menu,
      definition: { prompt: { ai_tts: 'Hello', ai_route: name }, options: { '1': { type: 'ai', ai_route: name } } },
    });
    const inUse = await op<ErrorBody>('DELETE', `/api/ai-routes/${name}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.used_by).toEqual([
      `menu '${menu}' (prompt.ai_route)`,
      `menu '${menu}' (options[1].ai_route)`,
    ]);
    await op('DELETE', `/api/ivr/menus/${menu}`);
    expect((await op('DELETE', `/api/ai-routes/${name}`)).status).toBe(200);
    expect((await op<ErrorBody>('GET', `/api/ai-routes/${name}`)).body.error.code).toBe('ERR_AI_ROUTE_NOT_FOUND');
  });

  describe('with AI_ROUTE_ALLOW_PRIVATE_ADDRESSES=false', () => {
    let app: InProcessApp;
    beforeAll(async () => {
      app = await startInProcessApp({ AI_ROUTE_ALLOW_PRIVATE_ADDRESSES: 'false' });
    });
    afterAll(() => app.close());

    test.each([
      ['ws://127.0.0.1:8090/agent', 'names a non-public address (127.0.0.1)'],
      ['wss://169.254.169.254/latest', 'names a non-public address (169.254.169.254)'],
      ['ws://[::1]/x', 'names a non-public address (::1)'],
      ['wss://localhost/x', 'names localhost'],
      ['wss://user:secret@agent.example.com/x', 'contains a user name or password'],
      ['https://agent.example.com/x', 'not ws:// or wss://'],
    ])('agent_url %s → 400 ERR_AI_URL_INVALID (%s), nothing stored', async (url, reason) => {
      const name = n(`ssrf${Math.random().toString(36).slice(2, 6)}`);
      const res = await api<ErrorBody>('POST', '/api/ai-routes/', {
        role: 'operator',
        stack: app.stack,
        body: { name, agent_url: url },
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'ERR_AI_URL_INVALID', field: 'agent_url', reason });
      expect((await api('GET', `/api/ai-routes/${name}`, { role: 'operator', stack: app.stack })).status).toBe(404);
    });

    test('a public wss:// URL → 201', async () => {
      const name = n('public');
      const res = await api('POST', '/api/ai-routes/', {
        role: 'operator',
        stack: app.stack,
        body: { name, agent_url: 'wss://agent.example.com/x' },
      });
      expect(res.status).toBe(201);
      await api('DELETE', `/api/ai-routes/${name}`, { role: 'operator', stack: app.stack });
    });
  });
});
