import { Counter, type Registry } from 'prom-client';
import type { PromptErrorCode } from './prompts';

/** The IVR's counters, on the gateway's registry (its /metrics). */
export class IvrMetrics {
  private readonly menus: Counter<'outcome'>;
  private readonly promptFailures: Counter<'code'>;
  private readonly aiTtsFallbacks: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.menus = new Counter({
      name: 'gateway_ivr_menus_total',
      help: 'Calls through IVR menus, by how the menus let go of them: handed_off (an AI, a person or a queue took the call), ended (the menu hung up), caller_gone.',
      labelNames: ['outcome'],
      registers,
    });
    this.promptFailures = new Counter({
      name: 'gateway_ivr_prompt_failures_total',
      help: 'Menu prompts that could not be played, by error code (ERR_IVR_PROMPT_NOT_FOUND, ERR_IVR_PROMPT_FORMAT, ERR_IVR_TTS_INPUT, ERR_IVR_TTS_FAILED, ERR_IVR_TTS_OUTPUT); the menu waited for keys without its prompt.',
      labelNames: ['code'],
      registers,
    });
    this.aiTtsFallbacks = new Counter({
      name: 'gateway_ivr_ai_tts_fallbacks_total',
      help: "ai_tts menu prompts spoken by the gateway's espeak-ng because the call could not speak through the AI.",
      registers,
    });
  }

  ivrMenuEnded(outcome: 'handed_off' | 'ended' | 'caller_gone'): void {
    this.menus.inc({ outcome });
  }

  ivrPromptFailed(code: PromptErrorCode): void {
    this.promptFailures.inc({ code });
  }

  ivrAiTtsFallback(): void {
    this.aiTtsFallbacks.inc();
  }
}
