import { mintToken, type Role } from '../../services/common/src/auth/tokens';
import { testStack, type TestStack } from './stack';

export interface ApiResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** A bearer token for the test stack's secrets. */
export function token(role: Role, ttlSeconds = 600, stack: TestStack = testStack()): Promise<string> {
  const { secrets } = stack.config;
  return mintToken({
    role,
    secret: role === 'admin' ? secrets.sipJwtSecret : secrets.jwtSecretKey,
    ttlSeconds,
    subject: 'tests',
  });
}

/** One JSON request to the test stack's control-plane. */
export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { body?: unknown; token?: string; role?: Role; stack?: TestStack; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const stack = options.stack ?? testStack();
  const bearer = options.token ?? (options.role ? await token(options.role, 600, stack) : undefined);
  const headers: Record<string, string> = { ...options.headers };
  if (bearer) headers['authorization'] = `Bearer ${bearer}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T };
}

export interface CreatedUser {
  readonly id: number;
  readonly username: string;
  readonly password: string;
}

let counter = 0;

/** Creates a SIP user through the API with a unique name and returns its password. */
export async function createUser(
  fields: Record<string, unknown> = {},
  stack: TestStack = testStack(),
): Promise<CreatedUser> {
  counter++;
  const username = (fields['username'] as string | undefined) ?? `u${process.pid}x${Date.now().toString(36)}${counter}`;
  const password = (fields['password'] as string | undefined) ?? `pw-${Math.random().toString(36).slice(2)}-secret`;
  const res = await api<{ id: number }>('POST', '/api/sip-users/', {
    role: 'admin',
    stack,
    body: { ...fields, username, password },
  });
  if (res.status !== 201) throw new Error(`creating ${username} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return { id: res.body.id, username, password };
}
