import { EventEmitter } from 'node:events';
import type { KamailioEventSource } from '../kamailio/evapi';
import { logDialogEvents } from './dialog-log';

function source(): EventEmitter & KamailioEventSource {
  return Object.assign(new EventEmitter(), { connected: true });
}

describe('logDialogEvents', () => {
  it('dialog events → one line each keyed by sip_call_id; other events → none', () => {
    const events = source();
    const info = jest.fn();
    const stop = logDialogEvents(events, { info });
    events.emit('event', {
      event: 'dialog_start',
      callid: 'c1@h',
      from_user: 'alice',
      to_user: '100',
      src_ip: '10.0.0.1',
    });
    events.emit('event', { event: 'registration', user: 'alice', contact: 'sip:a@h', expires: 60, src_ip: '10.0.0.1' });
    events.emit('event', { event: 'dialog_end', callid: 'c1@h', from_user: 'alice', to_user: '100' });
    expect(info.mock.calls).toEqual([
      ['call started at the SIP edge', { sip_call_id: 'c1@h', from_user: 'alice', to_user: '100', src_ip: '10.0.0.1' }],
      ['call ended at the SIP edge', { sip_call_id: 'c1@h', from_user: 'alice', to_user: '100' }],
    ]);
    stop();
    events.emit('event', { event: 'dialog_failed', callid: 'c2@h', from_user: 'bob', to_user: '100' });
    expect(info).toHaveBeenCalledTimes(2);
  });
});
