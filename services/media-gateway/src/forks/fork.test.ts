import { parseSdp } from '../../../common/src/sdp/sdp';
import { buildAnswer, chooseMedia } from './fork';

const offer = (m: string): string => `v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n${m}`;

describe('answering the relay’s subscription offer', () => {
  test('PCMA offered → answered recvonly on our port with PCMA only', () => {
    const sdp = parseSdp(
      offer(
        'm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n',
      ),
    );
    const chosen = chooseMedia(sdp);
    expect(chosen).toEqual({ index: 0, payloadType: 8 });
    const answer = buildAnswer(sdp, chosen!, '127.0.0.1', 40000);
    expect(answer).toContain('m=audio 40000 RTP/AVP 8\r\n');
    expect(answer).toContain('a=recvonly');
  });

  test('no G.711 offered → nothing to answer; extra m= lines are rejected with port 0', () => {
    expect(chooseMedia(parseSdp(offer('m=audio 30000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n')))).toBeUndefined();
    const two = parseSdp(offer('m=video 30002 RTP/AVP 96\r\nm=audio 30000 RTP/AVP 0\r\n'));
    const chosen = chooseMedia(two)!;
    expect(chosen.index).toBe(1);
    expect(buildAnswer(two, chosen, '127.0.0.1', 40000)).toContain('m=video 0 RTP/AVP 96');
  });
});
