import { replicaPorts } from './slice';

const base = { id: '127.0.0.1:5070', sipPort: 5070, rtpPortMin: 30000, rtpPortMax: 31999 };

describe('replicaPorts', () => {
  test('one replica → the configuration as it is', () => {
    expect(replicaPorts(base, 0, 1)).toEqual(base);
  });

  test('two replicas → consecutive SIP ports, suffixed ids, disjoint even-aligned halves of the RTP range', () => {
    expect(replicaPorts(base, 0, 2)).toEqual({
      id: '127.0.0.1:5070/0',
      sipPort: 5070,
      rtpPortMin: 30000,
      rtpPortMax: 30999,
    });
    expect(replicaPorts(base, 1, 2)).toEqual({
      id: '127.0.0.1:5070/1',
      sipPort: 5071,
      rtpPortMin: 31000,
      rtpPortMax: 31999,
    });
  });

  test('an odd range start and a share of odd size → every slice starts even and holds whole pairs, none overlap', () => {
    const odd = { ...base, rtpPortMin: 40001, rtpPortMax: 40100 };
    const slices = [0, 1, 2].map((i) => replicaPorts(odd, i, 3));
    let end = 40001;
    for (const s of slices) {
      expect(s.rtpPortMin % 2).toBe(0);
      expect((s.rtpPortMax - s.rtpPortMin + 1) % 2).toBe(0);
      expect(s.rtpPortMin).toBeGreaterThan(end);
      expect(s.rtpPortMax).toBeLessThanOrEqual(40100);
      end = s.rtpPortMax;
    }
  });

  test('bad index or count, or a range too small to share → an error', () => {
    expect(() => replicaPorts(base, 2, 2)).toThrow(TypeError);
    expect(() => replicaPorts(base, 0, 0)).toThrow(TypeError);
    expect(() => replicaPorts({ ...base, rtpPortMin: 30000, rtpPortMax: 30003 }, 0, 3)).toThrow(RangeError);
  });
});
