import { GREETING_TEXT, MENU_TEXT, pressedText, type Prompts } from './audio/prompts';
import { Speaker, type SpeakerOptions } from './speaker';
import { TimerScope } from './timers';

export const MODES = ['echo', 'greeting', 'dtmf-menu'] as const;
export type Mode = (typeof MODES)[number];

export function isMode(value: unknown): value is Mode {
  return typeof value === 'string' && (MODES as readonly string[]).includes(value);
}

/** What a conversation can do to the call (the session maps it onto the dialect). */
export interface ConversationOutput {
  /** agent speech, PCM16 16 kHz */
  speak(pcm16k: Int16Array): void;
  /** caller audio back, as it came */
  echo(payload: Buffer): void;
  text(text: string): void;
  mark(name: string): void;
  clear(): void;
}

/** How long echo waits before playing the caller back. */
export const ECHO_DELAY_MS = 200;
/** Echo sends a mark every this many frames, so the gateway's mark acknowledgements get exercised. */
export const ECHO_MARK_EVERY = 25;
/** If the greeting's mark never comes back, echo starts anyway this long after the greeting should have ended. */
const GREETING_MARK_GRACE_MS = 2000;

/**
 * The agent's behaviour in one call.
 *
 * - echo: every caller frame goes back ECHO_DELAY_MS later, a mark every ECHO_MARK_EVERY frames.
 * - greeting: says the greeting (mark "greeting"), then echoes once the gateway says the
 *   greeting has played (or was cut: a key press during it barges in with `clear`).
 * - dtmf-menu: says the menu; each key press clears whatever is being said and says
 *   which key it was (text + audio, mark "pressed-<key>").
 *
 * A reconnected call skips the greeting / menu prompt: the caller heard it already.
 */
export class Conversation {
  private phase: 'greeting' | 'echo' | 'menu';
  private readonly speaker: Speaker;
  private readonly timers = new TimerScope();
  private greetingFallback: NodeJS.Timeout | undefined;
  private onHold = false;
  private echoed = 0;
  private closed = false;

  constructor(
    readonly mode: Mode,
    private readonly out: ConversationOutput,
    private readonly prompts: Prompts,
    speakerOptions?: SpeakerOptions,
  ) {
    this.phase = mode === 'greeting' ? 'greeting' : mode === 'dtmf-menu' ? 'menu' : 'echo';
    this.speaker = new Speaker({ audio: (pcm) => out.speak(pcm), mark: (name) => out.mark(name) }, speakerOptions);
  }

  start(reconnected: boolean): void {
    if (this.phase === 'greeting') {
      if (reconnected) {
        this.phase = 'echo';
        return;
      }
      this.out.text(GREETING_TEXT);
      this.speaker.say(this.prompts.greeting, 'greeting');
      const greetingMs = (this.prompts.greeting.length * 1000) / 16000;
      this.greetingFallback = this.timers.after(greetingMs + GREETING_MARK_GRACE_MS, () => this.endGreeting());
    } else if (this.phase === 'menu' && !reconnected) {
      this.out.text(MENU_TEXT);
      this.speaker.say(this.prompts.menu, 'menu');
    }
  }

  onAudio(payload: Buffer): void {
    if (this.phase !== 'echo' || this.onHold || this.closed) return;
    this.timers.after(ECHO_DELAY_MS, () => {
      if (this.onHold) return;
      this.out.echo(payload);
      this.echoed++;
      if (this.echoed % ECHO_MARK_EVERY === 0) this.out.mark(`echo-${this.echoed / ECHO_MARK_EVERY}`);
    });
  }

  onDtmf(digit: string): void {
    if (this.closed) return;
    if (this.phase === 'greeting') {
      // Barge-in: the caller is done listening.
      if (this.speaker.clear()) this.out.clear();
      this.endGreeting();
      return;
    }
    if (this.phase !== 'menu') return;
    if (this.speaker.clear()) this.out.clear();
    this.out.text(pressedText(digit));
    this.speaker.say(this.prompts.pressed(digit), `pressed-${digit}`);
  }

  onMarkPlayed(name: string): void {
    if (name === 'greeting') this.endGreeting();
  }

  /** Hold (or `flow: paused`): stop sending; resume picks up where it stopped. */
  pause(hold: boolean): void {
    if (hold) this.onHold = true;
    this.speaker.pause();
  }

  resume(hold: boolean): void {
    if (hold) this.onHold = false;
    if (!this.onHold) this.speaker.resume();
  }

  get speaking(): boolean {
    return this.speaker.speaking;
  }

  close(): void {
    this.closed = true;
    this.speaker.close();
    this.timers.clearAll();
  }

  private endGreeting(): void {
    if (this.phase !== 'greeting') return;
    this.timers.cancel(this.greetingFallback);
    this.phase = 'echo';
  }
}
