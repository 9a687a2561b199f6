import type { Action } from '../../../common/src/ivr/menu';
import type { CallHandle } from '../calls/handle';
import { G711Clip } from '../media/clip';
import type { AiConnectResult, QueueDoor } from './seats';

/**
 * What a queue does with a caller that leaves it other than to an agent (overflow
 * on max wait or max length, the leave digit): an {@link Action}. The gateway runs
 * the IVR's executor (routing/actions.ts) when it has one; {@link BasicQueueActions}
 * is the small stand-in without menus.
 */
export interface QueueActions {
  run(call: CallHandle, action: Action): Promise<void>;
}

/** Why a busy overflow ends the call (calls.end_reason). */
export const QUEUE_BUSY_REASON = 'busy';

/** ITU-T E.180 / North American busy tone: 480 + 620 Hz, 0.5 s on, 0.5 s off. */
export function busyTonePcm(seconds = 3): Int16Array {
  const pcm = new Int16Array(8000 * seconds);
  for (let n = 0; n < pcm.length; n++) {
    if (n % 8000 >= 4000) continue;
    const t = n / 8000;
    pcm[n] = Math.round(4000 * (Math.sin(2 * Math.PI * 480 * t) + Math.sin(2 * Math.PI * 620 * t)));
  }
  return pcm;
}

export interface BasicQueueActionsDeps {
  readonly ai: {
    connect(
      call: CallHandle,
      action: Extract<Action, { type: 'ai' }>,
      o?: { customParameters?: Record<string, string> },
    ): Promise<AiConnectResult>;
  };
  readonly queues: QueueDoor;
  readonly ringTimeoutMs: number;
}

export class BasicQueueActions implements QueueActions {
  constructor(private readonly deps: BasicQueueActionsDeps) {}

  async run(call: CallHandle, action: Action): Promise<void> {
    if (!call.live) return;
    switch (action.type) {
      case 'ai':
      case 'voicemail': {
        const ai: Extract<Action, { type: 'ai' }> =
          action.type === 'ai' ? action : { type: 'ai', ...(action.ai_route ? { ai_route: action.ai_route } : {}) };
        const r = await this.deps.ai.connect(
          call,
          ai,
          action.type === 'voicemail' ? { customParameters: { mode: 'voicemail' } } : undefined,
        );
        if (r === 'busy' || r === 'failed') await this.busy(call);
        return;
      }
      case 'queue':
        return this.deps.queues.enter(call, action.queue, {
          priority: action.priority ?? 0,
          source: action.priority ? 'menu' : 'none',
        });
      case 'sip_user':
      case 'external': {
        const target = action.type === 'sip_user' ? action.username : action.number;
        const ms =
          action.ring_timeout_seconds !== undefined ? action.ring_timeout_seconds * 1000 : this.deps.ringTimeoutMs;
        const outcome = await call.bridgeTo([target], { ringTimeoutMs: ms });
        if (!outcome.ok) await this.busy(call);
        return;
      }
      case 'hangup':
        return call.end(action.reason ?? 'queue_hangup', 'gateway');
      case 'menu':
      case 'repeat':
        // No menu runner here: the caller is let go rather than left in silence.
        return call.end('queue_menu_unavailable', 'gateway');
      case 'busy':
        return this.busy(call);
    }
  }

  private async busy(call: CallHandle): Promise<void> {
    if (!call.live) return;
    const clip = G711Clip.fromPcm(busyTonePcm(), call.codec);
    call.play(clip);
    await Promise.race([clip.done, call.ended]);
    await call.end(QUEUE_BUSY_REASON, 'gateway');
  }
}
