import { parseTwilioAgentFrame, parseTwilioGatewayFrame } from './twilio';

// Messages shaped like the examples on Twilio's "Media Streams - WebSocket Messages"
// page (https://www.twilio.com/docs/voice/media-streams/websocket-messages), with its
// placeholder SIDs: what a real Twilio stream looks like to an agent.
const TWILIO_EXAMPLES = {
  connected: { event: 'connected', protocol: 'Call', version: '1.0.0' },
  start: {
    event: 'start',
    sequenceNumber: '1',
    start: {
      accountSid: 'ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
      streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
      callSid: 'CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
      tracks: ['inbound', 'outbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: { FirstName: 'Jane', LastName: 'Doe', RemoteParty: 'Bob' },
    },
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
  },
  media: {
    event: 'media',
    sequenceNumber: '3',
    media: {
      track: 'inbound',
      chunk: '1',
      timestamp: '5',
      payload: 'no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJevLBUMBwYHCxUqtZiMiIaHio6l',
    },
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
  },
  stop: {
    event: 'stop',
    sequenceNumber: '5',
    stop: { accountSid: 'ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', callSid: 'CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' },
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
  },
  dtmf: {
    event: 'dtmf',
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    sequenceNumber: '5',
    dtmf: { track: 'inbound_track', digit: '1' },
  },
  mark: {
    event: 'mark',
    sequenceNumber: '4',
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    mark: { name: 'my label' },
  },
};

describe('parseTwilioGatewayFrame', () => {
  test.each(Object.entries(TWILIO_EXAMPLES))('a Twilio-shaped %s message validates', (_name, frame) => {
    expect(parseTwilioGatewayFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  test('start with another media format → refused', () => {
    const start = {
      ...TWILIO_EXAMPLES.start,
      start: { ...TWILIO_EXAMPLES.start.start, mediaFormat: { encoding: 'audio/l16', sampleRate: 16000, channels: 1 } },
    };
    expect(parseTwilioGatewayFrame(JSON.stringify(start)).ok).toBe(false);
  });
});

describe('parseTwilioAgentFrame', () => {
  test.each([
    ['media', { event: 'media', streamSid: 'MZ1', media: { payload: 'AAAA' } }],
    ['mark', { event: 'mark', streamSid: 'MZ1', mark: { name: 'my label' } }],
    ['clear', { event: 'clear', streamSid: 'MZ1' }],
    ['media without streamSid (agents that omit it)', { event: 'media', media: { payload: 'AAAA' } }],
    ['hangup extension', { event: 'hangup', hangup: { reason: 'done' } }],
    ['transfer extension', { event: 'transfer', transfer: { target: '+15550100' } }],
    ['send_dtmf extension', { event: 'send_dtmf', send_dtmf: { digits: '1#' } }],
  ])('%s → accepted', (_name, frame) => {
    expect(parseTwilioAgentFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  test.each([
    ['media without payload', { event: 'media', media: {} }, 'media: /media'],
    ['mark without name', { event: 'mark', mark: {} }, 'mark: /mark'],
    ['an event Twilio does not have', { event: 'start', start: {} }, 'start: /'],
  ])('%s → refused with a reason', (_name, frame, reason) => {
    const parsed = parseTwilioAgentFrame(JSON.stringify(frame));
    expect(parsed.ok ? '' : parsed.reason).toContain(reason);
  });
});
