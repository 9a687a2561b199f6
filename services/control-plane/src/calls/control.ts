import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { Counter, type Registry } from 'prom-client';
import {
  awaitCommand,
  commandFailure,
  finishCommand,
  submitCommand,
  type CommandResult,
  type DoneSignal,
} from '../../../common/src/calls/commands';
import type { CallCommandName, Database } from '../../../common/src/db/schema';
import { AppError, ERRORS, type ErrorCode } from '../../../common/src/errors';
import type { Logger } from '../../../common/src/logger';
import { assertWebhookUrl } from '../../../common/src/webhooks/destination';
import { enqueueCallWebhook } from '../../../common/src/webhooks/outbox';
import { KamailioRpcError, KamailioUnavailableError } from '../../../common/src/kamailio/rpc';
import type { DialogView } from '../kamailio/dialogs';
import { parseE164 } from '../numbers/e164';
import { activeCalls, proxiedDialogId, type ActivePage, type LiveCallRow } from './control-active';
import type { ActiveCallsQuery, CallCommandQuery, InitiateCallBody } from './schemas';

/** What call control needs of Kamailio's dialogs (kamailio/dialogs.ts). */
export interface ProxiedDialogs {
  list(): Promise<DialogView[]>;
  /** `<h_entry>.<h_id>`; false when Kamailio has no such dialog. */
  end(dialogId: string): Promise<boolean>;
}

export interface CallControlOptions {
  readonly db: Kysely<Database>;
  readonly dialogs: ProxiedDialogs;
  /** Wakes waiters when a command finishes (a LISTEN connection); without it they poll. */
  readonly signal?: DoneSignal;
  /** WEBHOOK_ALLOW_PRIVATE_ADDRESSES: webhook_url may name a private or loopback address. */
  readonly webhooksAllowPrivate?: boolean;
  /** How long a command request waits for the gateway (CALL_COMMAND_TIMEOUT_MS). */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** Where call_control_events_total (refused caller IDs, failed commands, Kamailio unavailable) is registered. */
  readonly registry?: Registry;
  readonly now?: () => number;
}

/** A command's answer: the result (200), or the id to follow when the caller did not wait (202). */
export type CommandReply =
  | { readonly waited: true; readonly body: Record<string, unknown> }
  | { readonly waited: false; readonly body: { readonly call_id: string; readonly command_id: string } };

/** The call-control codes a gateway reports that the API answers with as they are. */
const PASSED_THROUGH: readonly ErrorCode[] = [
  'ERR_CALL_NOT_ACTIVE',
  'ERR_CALL_GATEWAY_LOST',
  'ERR_CALL_COMMAND_TIMEOUT',
  'ERR_CALL_COMMAND_UNSUPPORTED',
  'ERR_CALL_TRANSFER_FAILED',
];

/** A failed command result → the API error with the same code (details but the message kept). */
export function commandError(callId: string, result: Extract<CommandResult, { ok: false }>): AppError {
  const { ok: _ok, code, message, ...details } = result;
  const known = (PASSED_THROUGH as readonly string[]).includes(code) ? (code as ErrorCode) : 'ERR_CALL_COMMAND_FAILED';
  const text = known === code ? message : ERRORS.ERR_CALL_COMMAND_FAILED.message;
  return new AppError(known, `call ${callId}: ${text}`, known === code ? details : {});
}

/**
 * Call control from any control-plane replica: commands to live calls through the
 * PostgreSQL channel (services/common/src/calls/commands.ts) to the gateway that owns
 * the call, hangup of calls Kamailio only proxies through its dialog module, new
 * outbound calls (an `originate` command any gateway may take), and the list of every
 * live call.
 */
export class CallControl {
  private readonly now: () => number;
  private readonly events: Counter<'event'>;

  constructor(private readonly o: CallControlOptions) {
    this.now = o.now ?? Date.now;
    this.events = new Counter({
      name: 'call_control_events_total',
      help: 'Call control: caller IDs refused (caller_id_refused), commands that failed (by error code), /api/calls/active without Kamailio (kamailio_unavailable).',
      labelNames: ['event'],
      registers: o.registry ? [o.registry] : [],
    });
  }

  private count(event: string): void {
    this.events.inc({ event });
  }

  /**
   * Sends `command` to the call's gateway and (unless `wait` is false) waits for its
   * result. `kd-<h_entry>-<h_id>` ids are Kamailio's own dialogs: only hangup applies.
   */
  async command(
    callId: string,
    command: Exclude<CallCommandName, 'originate'>,
    args: Readonly<Record<string, unknown>>,
    query: CallCommandQuery,
  ): Promise<CommandReply> {
    const dialog = proxiedDialogId(callId);
    if (dialog !== null) return this.proxied(callId, dialog, command);
    const row = await this.o.db
      .selectFrom('calls')
      .select(['state', 'gateway'])
      .where('call_id', '=', callId)
      .executeTakeFirst();
    if (!row) throw new AppError('ERR_CALL_NOT_FOUND', `no call ${callId}`);
    if (row.state === 'ended') throw new AppError('ERR_CALL_NOT_ACTIVE', `call ${callId} has ended`);
    if (row.gateway === null) {
      if (command === 'hangup' && (await this.cancelUnplaced(callId)))
        return { waited: true, body: { ok: true, call_id: callId, command, ended: true } };
      throw new AppError('ERR_CALL_NOT_ACTIVE', `call ${callId} has not been placed yet`);
    }
    const id = await submitCommand(this.o.db, {
      callId,
      gateway: row.gateway,
      command,
      args,
      ttlMs: this.o.commandTimeoutMs,
    });
    this.o.logger.info('call command sent', { call_id: callId, command, command_id: id, gateway: row.gateway });
    if (!query.wait) return { waited: false, body: { call_id: callId, command_id: id } };
    const result = await awaitCommand(this.o.db, id, {
      timeoutMs: this.o.commandTimeoutMs,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    if (!result.ok) {
      this.count(result.code);
      this.o.logger.warn('call command failed', { call_id: callId, command, command_id: id, code: result.code });
      throw commandError(callId, result);
    }
    return { waited: true, body: { ...result, call_id: callId, command, command_id: id } };
  }

  /**
   * An outbound call no gateway has taken yet: its originate command is withdrawn and
   * the call ends as cancelled. False when a gateway took it meanwhile.
   */
  private async cancelUnplaced(callId: string): Promise<boolean> {
    return this.o.db.transaction().execute(async (tx) => {
      const pending = await tx
        .selectFrom('call_commands')
        .select('id')
        .where('call_id', '=', callId)
        .where('command', '=', 'originate')
        .where('state', '=', 'pending')
        .forUpdate()
        .executeTakeFirst();
      if (!pending) return false;
      await finishCommand(
        tx,
        String(pending.id),
        'expired',
        commandFailure('ERR_CALL_NOT_ACTIVE', 'hung up before it was placed'),
        ['pending'],
      );
      const ended = await tx
        .updateTable('calls')
        .set({
          state: 'ended',
          ended_at: sql<Date>`now()`,
          end_reason: 'api hangup before dialing',
          ended_by: 'api',
          disposition: 'cancelled',
        })
        .where('call_id', '=', callId)
        .where('gateway', 'is', null)
        .where('state', '=', 'initiated')
        .returning(['from_number', 'to_number', 'webhook_url'])
        .executeTakeFirst();
      if (ended?.webhook_url)
        await enqueueCallWebhook(tx, {
          callId,
          url: ended.webhook_url,
          event: 'failed',
          data: {
            from_number: ended.from_number,
            to_number: ended.to_number,
            direction: 'outbound',
            reason: 'cancelled',
            ended_by: 'api',
          },
        });
      return ended !== undefined;
    });
  }

  private async proxied(callId: string, dialogId: string, command: CallCommandName): Promise<CommandReply> {
    if (command !== 'hangup')
      throw new AppError(
        'ERR_CALL_COMMAND_UNSUPPORTED',
        `call ${callId} is one Kamailio proxies between two parties: only hangup applies`,
      );
    if (!(await this.o.dialogs.end(dialogId))) throw new AppError('ERR_CALL_NOT_FOUND', `no call ${callId}`);
    this.o.logger.info('proxied call ended by the API', { call_id: callId, dialog_id: dialogId });
    return { waited: true, body: { ok: true, call_id: callId, command, ended: true } };
  }

  /**
   * A new outbound AI call: checks the caller ID and the destination, then writes in
   * one transaction the calls row (state initiated, no gateway yet), its first webhook
   * event and the originate command that any gateway with room takes.
   */
  async initiate(body: InitiateCallBody): Promise<Record<string, unknown>> {
    if (body.webhook_url !== undefined)
      assertWebhookUrl(body.webhook_url, { allowPrivate: this.o.webhooksAllowPrivate ?? false });
    const from = await this.callerId(body);
    const to = await this.destination(body);
    const callId = randomUUID();
    const ai = body.ai ?? null;
    const args = {
      from,
      to,
      webhook_url: body.webhook_url ?? null,
      ai: {
        url: ai?.url ?? null,
        dialect: ai?.dialect ?? null,
        custom_parameters: body.custom_parameters ?? {},
      },
      record: body.record ?? null,
      ring_timeout_seconds: body.ring_timeout_seconds,
    };
    const created = await this.o.db.transaction().execute(async (tx) => {
      const row = await tx
        .insertInto('calls')
        .values({
          call_id: callId,
          sip_call_id: '',
          direction: 'outbound',
          from_number: from,
          to_number: to,
          route: 'outbound',
          ai_dialect: ai?.dialect ?? null,
          ai_url: ai?.url ?? null,
          codec: null,
          state: 'initiated',
          gateway: null,
          recording_path: null,
          webhook_url: body.webhook_url ?? null,
        })
        .returning('started_at')
        .executeTakeFirstOrThrow();
      await enqueueCallWebhook(tx, {
        callId,
        url: body.webhook_url,
        event: 'initiated',
        data: { from_number: from, to_number: to, direction: 'outbound' },
      });
      const commandId = await submitCommand(tx, {
        callId,
        gateway: null,
        command: 'originate',
        args,
        ttlMs: this.o.commandTimeoutMs,
      });
      return { startedAt: row.started_at, commandId };
    });
    this.o.logger.info('outbound call initiated', { call_id: callId, from, to, command_id: created.commandId });
    return {
      call_id: callId,
      state: 'initiated',
      direction: 'outbound',
      from_number: from,
      to_number: to,
      webhook_url: body.webhook_url ?? null,
      ring_timeout_seconds: body.ring_timeout_seconds,
      created_at: created.startedAt.toISOString(),
      command_id: created.commandId,
    };
  }

  /** from_number: one of our (enabled) numbers, or with from_user that user's own username. */
  private async callerId(body: InitiateCallBody): Promise<string> {
    const refuse = (why: string): never => {
      this.count('caller_id_refused');
      this.o.logger.warn('outbound call refused: caller ID not allowed', { from_number: body.from_number, why });
      throw new AppError('ERR_CALLER_ID_NOT_ALLOWED', `from_number ${body.from_number} ${why}`, {
        fields: [{ field: 'from_number', message: why }],
      });
    };
    if (body.from_user !== undefined) {
      if (body.from_number !== body.from_user) refuse(`is not the username of from_user ${body.from_user}`);
      const user = await this.o.db
        .selectFrom('subscriber')
        .select('id')
        .where('username', '=', body.from_user)
        .where('enabled', '=', 1)
        .executeTakeFirst();
      if (!user) refuse(`is not an enabled SIP user`);
      return body.from_user;
    }
    const parsed = parseE164(body.from_number);
    if (!parsed.ok) return refuse(parsed.problem);
    const ours = await this.o.db
      .selectFrom('numbers')
      .select('number')
      .where('number', '=', parsed.e164)
      .where('enabled', '=', true)
      .executeTakeFirst();
    if (!ours) refuse("is not one of this system's numbers (see /api/numbers)");
    return parsed.e164;
  }

  /** to_number in E.164 (a trunk or one of our numbers), or to_user, a SIP user. */
  private async destination(body: InitiateCallBody): Promise<string> {
    if ((body.to_user === undefined) === (body.to_number === undefined)) {
      const message = 'give either to_number or to_user';
      throw new AppError('ERR_VALIDATION', message, {
        fields: [
          { field: 'to_number', message },
          { field: 'to_user', message },
        ],
      });
    }
    if (body.to_user !== undefined) {
      const user = await this.o.db
        .selectFrom('subscriber')
        .select('username')
        .where('username', '=', body.to_user)
        .executeTakeFirst();
      if (!user)
        throw new AppError('ERR_VALIDATION', `to_user ${body.to_user} is not a SIP user`, {
          fields: [{ field: 'to_user', message: 'is not a SIP user' }],
        });
      return user.username;
    }
    const parsed = parseE164(body.to_number ?? '');
    if (!parsed.ok)
      throw new AppError('ERR_VALIDATION', `to_number ${parsed.problem}`, {
        fields: [{ field: 'to_number', message: parsed.problem }],
      });
    return parsed.e164;
  }

  /**
   * Every live call: AI calls from `calls` (initiated, ringing, active) and the calls
   * Kamailio only proxies (its dialogs, less those of AI calls). Kamailio not answering
   * leaves the AI calls listed, with `kamailio: "unavailable"`.
   */
  async active(query: ActiveCallsQuery): Promise<ActivePage> {
    const rows: LiveCallRow[] = await this.o.db
      .selectFrom('calls')
      .select([
        'call_id',
        'sip_call_id',
        'direction',
        'from_number',
        'to_number',
        'route',
        'ai_dialect',
        'ai_url',
        'codec',
        'state',
        'gateway',
        'started_at',
        'answered_at',
        'on_hold',
        'trunk_id',
        'recording_path',
      ])
      .where('state', 'in', ['initiated', 'ringing', 'active'])
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(MAX_LIVE)
      .execute();
    let dialogs: DialogView[] | null = null;
    try {
      dialogs = await this.o.dialogs.list();
    } catch (err) {
      if (!(err instanceof KamailioUnavailableError || err instanceof KamailioRpcError)) throw err;
      this.count('kamailio_unavailable');
      this.o.logger.warn('active calls listed without Kamailio: it did not answer', { error: err.message });
    }
    const ours = dialogs === null ? new Set<string>() : await this.ourNumbers(dialogs);
    return activeCalls({ rows, dialogs, ourNumbers: ours, query, nowMs: this.now() });
  }

  /** Which of the dialogs' callees are our numbers (inbound from a trunk vs outbound to one). */
  private async ourNumbers(dialogs: readonly DialogView[]): Promise<Set<string>> {
    const wanted = [
      ...new Set(
        dialogs.flatMap((d) =>
          d.callee && /^\+?[0-9]{3,15}$/.test(d.callee) ? [`+${d.callee.replace(/^\+/, '')}`] : [],
        ),
      ),
    ];
    if (wanted.length === 0) return new Set();
    const rows = await this.o.db.selectFrom('numbers').select('number').where('number', 'in', wanted).execute();
    return new Set(rows.map((r) => r.number.replace(/^\+/, '')));
  }
}

/** Live AI calls read at once: a bound far above any fleet's capacity, so a runaway table cannot exhaust memory. */
const MAX_LIVE = 10_000;
