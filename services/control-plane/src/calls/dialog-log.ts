import type { KamailioEventSource } from '../kamailio/evapi';
import type { KamailioEvent } from '../kamailio/events';

/** The logger method the dialog log writes with (a winston logger fits). */
export interface DialogLogger {
  info(message: string, meta?: object): unknown;
}

const MESSAGES = {
  dialog_start: 'call started at the SIP edge',
  dialog_end: 'call ended at the SIP edge',
  dialog_failed: 'call failed at the SIP edge',
} as const;

/**
 * One line per call event Kamailio reports (evapi dialog_start/end/failed), keyed by
 * `sip_call_id`: the field the media gateway's lines and Kamailio's own JSON log lines
 * (log_prefix in kamailio.cfg) carry, so one grep for a Call-ID follows a call through
 * every process (docs/operations.md). Returns the function that stops logging.
 */
export function logDialogEvents(source: KamailioEventSource, logger: DialogLogger): () => void {
  const onEvent = (e: KamailioEvent): void => {
    if (e.event !== 'dialog_start' && e.event !== 'dialog_end' && e.event !== 'dialog_failed') return;
    logger.info(MESSAGES[e.event], {
      sip_call_id: e.callid,
      from_user: e.from_user,
      to_user: e.to_user,
      ...(e.src_ip !== undefined ? { src_ip: e.src_ip } : {}),
    });
  };
  source.on('event', onEvent);
  return () => source.off('event', onEvent);
}
