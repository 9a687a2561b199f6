import Ajv from 'ajv';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuthSecrets } from '../../../common/src/ai-protocol/auth';
import { DIALECTS, type Dialect } from '../../../common/src/ai-protocol/dialect';
import type { WebSocketFactory } from '../../../common/src/ai-protocol/socket';
import { CodedError } from '../../../common/src/errors';
import type { MediaRelay } from '../../../common/src/media-relay';
import type { ReconnectPolicy } from '../ai-stream/backoff';
import type { RtpSocket } from '../calls/media-leg';
import type { CommandRegistry } from '../control/registry';
import { ForkSession } from './fork';
import { ListenFrames } from './frames';
import { ListenStream } from './listen-stream';

export interface ForkLogger {
  info(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
}

/** The `fork` command's arguments as the control-plane writes them (services/control-plane/src/calls/listen-forks.ts). */
interface ForkArgs {
  sip_call_id: string;
  from_tag: string;
  to_tag: string;
  from_user: string;
  to_user: string;
  trunk: string | null;
  rule_id: string;
  ai: { url: string; dialect: Dialect; custom_parameters: Record<string, string> };
}

const str = (max: number): object => ({ type: 'string', minLength: 1, maxLength: max });
const FORK_ARGS_SCHEMA = {
  type: 'object',
  required: ['sip_call_id', 'from_tag', 'to_tag', 'from_user', 'to_user', 'ai'],
  properties: {
    sip_call_id: str(1024),
    from_tag: str(128),
    to_tag: str(128),
    from_user: { type: 'string', maxLength: 1024 },
    to_user: { type: 'string', maxLength: 1024 },
    trunk: { type: ['string', 'null'], maxLength: 64 },
    rule_id: { type: 'string', maxLength: 32 },
    ai: {
      type: 'object',
      required: ['url', 'dialect'],
      properties: {
        url: { type: 'string', pattern: '^wss?://', maxLength: 2048 },
        dialect: { enum: [...DIALECTS] },
        custom_parameters: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 } },
      },
    },
  },
} as const;
const validateArgs = new Ajv({ allErrors: false }).compile<ForkArgs>(FORK_ARGS_SCHEMA);

export interface ForkDeps {
  readonly relay: MediaRelay;
  readonly openSocket: () => Promise<RtpSocket>;
  readonly rtpAddress: string;
  readonly secrets: AuthSecrets;
  readonly reconnect: ReconnectPolicy;
  readonly connectTimeoutMs: number;
  readonly idleMs: number;
  readonly metrics: Registry;
  readonly logger: ForkLogger;
  readonly wsFactory?: WebSocketFactory;
}

/** The running forks, for unfork and shutdown. */
export interface Forks {
  readonly active: number;
  closeAll(reason: string): Promise<void>;
}

/**
 * `fork {…}`: copies both parties of a call between people, listen-only, to the AI
 * the rule names; `unfork {}`: ends this gateway's fork of that call. The fork
 * outlives its command: the command is done once both subscriptions are answered.
 */
export function registerForks(registry: CommandRegistry, deps: ForkDeps): Forks {
  const sessions = new Map<string, ForkSession>();
  const active = new Gauge({
    name: 'gateway_listen_forks_active',
    help: 'Listen-only forks of calls between people running on this gateway.',
    registers: [deps.metrics],
    collect() {
      this.set(sessions.size);
    },
  });
  void active;
  const aiFailures = new Counter({
    name: 'gateway_listen_fork_ai_failures_total',
    help: 'Listen-only streams the AI refused or lost (the call is never touched), by reason.',
    labelNames: ['reason'],
    registers: [deps.metrics],
  });

  registry.registerCommand('fork', async ({ callId, args }) => {
    if (!validateArgs(args)) {
      const first = validateArgs.errors?.[0];
      throw new CodedError(
        'ERR_LISTEN_FORK_FAILED',
        `fork arguments: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      );
    }
    const a = args as ForkArgs;
    const existing = sessions.get(callId);
    if (existing) return { fork_id: callId, already: true };
    const frames = new ListenFrames(a.ai.dialect, {
      callId,
      sipCallId: a.sip_call_id,
      from: a.from_user,
      to: a.to_user,
      trunk: a.trunk ?? null,
      customParameters: a.ai.custom_parameters ?? {},
    });
    const stream = new ListenStream({
      url: a.ai.url,
      frames,
      secrets: deps.secrets,
      reconnect: deps.reconnect,
      connectTimeoutMs: deps.connectTimeoutMs,
      logger: deps.logger,
      onFailure: (reason) => aiFailures.inc({ reason }),
      wsFactory: deps.wsFactory,
    });
    const session: ForkSession = new ForkSession({
      id: callId,
      sipCallId: a.sip_call_id,
      parties: [
        { track: 'caller', tag: a.from_tag },
        { track: 'callee', tag: a.to_tag },
      ],
      relay: deps.relay,
      openSocket: deps.openSocket,
      rtpAddress: deps.rtpAddress,
      stream,
      idleMs: deps.idleMs,
      onClosed: (reason) => {
        if (sessions.get(callId) === session) sessions.delete(callId);
        deps.logger.info('listen-only fork ended', {
          fork_id: callId,
          sip_call_id: a.sip_call_id,
          reason,
          frames_sent: stream.sent,
        });
      },
    });
    sessions.set(callId, session);
    try {
      await session.start();
    } catch (err) {
      sessions.delete(callId);
      deps.logger.warn('listen-only fork failed', {
        fork_id: callId,
        sip_call_id: a.sip_call_id,
        error: (err as Error).message,
      });
      throw new CodedError('ERR_LISTEN_FORK_FAILED', `the relay refused the fork: ${(err as Error).message}`);
    }
    deps.logger.info('listen-only fork started', { fork_id: callId, sip_call_id: a.sip_call_id, rule_id: a.rule_id });
    return { fork_id: callId, tracks: ['caller', 'callee'] };
  });

  registry.registerCommand('unfork', async ({ callId }) => {
    const session = sessions.get(callId);
    if (!session) return { fork_id: callId, stopped: false };
    const packets = session.packets;
    await session.close('call ended');
    return { fork_id: callId, stopped: true, packets };
  });

  return {
    get active() {
      return sessions.size;
    },
    async closeAll(reason) {
      await Promise.all([...sessions.values()].map((s) => s.close(reason)));
    },
  };
}
