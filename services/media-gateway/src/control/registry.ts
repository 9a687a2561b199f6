import type { ClientConfig } from 'pg';
import { Counter, Histogram, type Registry } from 'prom-client';
import {
  COMMANDS_CHANNEL,
  CommandListener,
  listenerSessionName,
  PgCommandQueue,
  PgNotifications,
  type CommandHandler,
  type NotificationLogger,
} from '../../../common/src/calls/commands';
import type { Kysely } from 'kysely';
import type { CallCommandName, Database } from '../../../common/src/db/schema';

/**
 * The commands this gateway runs for live calls (hangup, transfer, hold, …), by name.
 * Each feature registers its handler from its own file; a command with no handler
 * fails with ERR_CALL_COMMAND_UNSUPPORTED.
 */
export class CommandRegistry {
  private readonly handlers = new Map<CallCommandName, CommandHandler>();

  registerCommand(name: CallCommandName, handler: CommandHandler): void {
    if (this.handlers.has(name)) throw new TypeError(`a handler for ${name} is registered already`);
    this.handlers.set(name, handler);
  }

  handler(name: CallCommandName): CommandHandler | undefined {
    return this.handlers.get(name);
  }

  get names(): CallCommandName[] {
    return [...this.handlers.keys()];
  }
}

export interface CommandChannelOptions {
  /** This gateway's id: its lease name and calls.gateway. */
  readonly gateway: string;
  readonly db: Kysely<Database>;
  /** The LISTEN connection's settings (its own connection, outside the pool). */
  readonly connection: ClientConfig;
  readonly registry: CommandRegistry;
  readonly maxConcurrent: number;
  /** Whether to take unowned commands (originate, fork) now. */
  readonly takeUnowned: () => boolean;
  readonly pollMs: number;
  readonly metrics: Registry;
  readonly logger: NotificationLogger;
}

/** The running channel: stop() stops claiming and lets running commands finish for up to `graceMs`. */
export interface CommandChannel {
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts this gateway's end of the command channel: a LISTEN connection named after
 * the gateway (control-planes read its presence in pg_stat_activity to tell a gateway
 * that died from a slow one) and the listener that claims and runs commands.
 */
export async function startCommandChannel(o: CommandChannelOptions): Promise<CommandChannel> {
  const commands = new Counter({
    name: 'gateway_call_commands_total',
    help: 'Commands to live calls run on this gateway, by command and outcome (ok or the error code).',
    labelNames: ['command', 'outcome'],
    registers: [o.metrics],
  });
  const latency = new Histogram({
    name: 'gateway_call_command_seconds',
    help: 'Time from claiming a command to its outcome.',
    labelNames: ['command'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [o.metrics],
  });
  const listener = new CommandListener({
    gateway: o.gateway,
    queue: new PgCommandQueue(o.db),
    handler: (name) => o.registry.handler(name),
    maxConcurrent: o.maxConcurrent,
    takeUnowned: o.takeUnowned,
    pollMs: o.pollMs,
    logger: o.logger,
    metrics: {
      command(name, outcome, seconds) {
        commands.inc({ command: name, outcome });
        latency.observe({ command: name }, seconds);
      },
    },
  });
  const notifications = new PgNotifications({
    connection: o.connection,
    channels: [COMMANDS_CHANNEL],
    applicationName: listenerSessionName(o.gateway),
    logger: o.logger,
    // Notifications sent while the connection was down are lost: look at the table.
    onConnected: () => listener.wake(),
  });
  notifications.on(COMMANDS_CHANNEL, (owner) => {
    if (owner === o.gateway || owner === '*') listener.wake();
  });
  await notifications.start();
  listener.start();
  return {
    async stop(graceMs) {
      await listener.stop(graceMs);
      await notifications.close();
    },
  };
}
