import Ajv from 'ajv';
import { CodedError } from '../../common/src/errors';
import { MODES, type Mode } from './conversation';

/** The demo agent's environment. The secrets are the gateway's: it checks what the gateway signs. */
export const DEMO_AGENT_ENV_SCHEMA = {
  type: 'object',
  properties: {
    DEMO_AGENT_HOST: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address the demo agent listens on.',
    },
    DEMO_AGENT_PORT: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      default: 8090,
      description: 'Port of the demo agent (0: any free port).',
    },
    DEMO_AGENT_MODE: {
      type: 'string',
      enum: MODES,
      default: 'greeting',
      description: 'Behaviour when the call does not ask for one: echo, greeting or dtmf-menu.',
    },
    JWT_SECRET_KEY: { type: 'string', minLength: 32, description: "Verifies the gateway's JWT." },
    SIP_SHARED_SECRET: { type: 'string', minLength: 32, description: "Verifies the gateway's HMAC signature." },
    LOG_LEVEL: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], default: 'info', description: 'Log level.' },
  },
  required: ['JWT_SECRET_KEY', 'SIP_SHARED_SECRET'],
} as const;

export interface DemoAgentConfig {
  readonly host: string;
  readonly port: number;
  readonly mode: Mode;
  readonly secrets: { readonly jwtSecretKey: string; readonly sipSharedSecret: string };
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
}

/** The environment does not describe a valid demo agent; the message names every problem. */
export class DemoAgentConfigError extends CodedError<'ERR_CONFIG_INVALID'> {
  constructor(message: string) {
    super('ERR_CONFIG_INVALID', message);
  }
}

const validate = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true }).compile(DEMO_AGENT_ENV_SCHEMA);

/** Reads, validates and freezes the demo agent's configuration. */
export function loadDemoAgentConfig(env: Record<string, string | undefined>): DemoAgentConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(DEMO_AGENT_ENV_SCHEMA.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map(
      (e) => `${e.instancePath.slice(1) || String(e.params['missingProperty'] ?? '')} ${e.message ?? 'is invalid'}`,
    );
    throw new DemoAgentConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return Object.freeze({
    host: raw['DEMO_AGENT_HOST'] as string,
    port: raw['DEMO_AGENT_PORT'] as number,
    mode: raw['DEMO_AGENT_MODE'] as Mode,
    secrets: Object.freeze({
      jwtSecretKey: raw['JWT_SECRET_KEY'] as string,
      sipSharedSecret: raw['SIP_SHARED_SECRET'] as string,
    }),
    logLevel: raw['LOG_LEVEL'] as DemoAgentConfig['logLevel'],
  });
}
