import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The RTP captures Debian's `sip-tester` package (SIPp 3.6) ships: G.711 A-law
 * speech at 30 ms packets and one RFC 2833 key press per file. scripts/bootstrap.sh
 * installs the package; the tests read the captures where it puts them.
 */
export const SIPP_CAPTURE_DIR = process.env['SIPP_PCAP_DIR'] ?? '/usr/share/sip-tester';

/** The DTMF captures with the digit each one carries. */
export const SIPP_DTMF_CAPTURES: ReadonlyArray<{ readonly file: string; readonly digit: string }> = [
  ...'0123456789'.split('').map((digit) => ({ file: `dtmf_2833_${digit}.pcap`, digit })),
  { file: 'dtmf_2833_star.pcap', digit: '*' },
  { file: 'dtmf_2833_pound.pcap', digit: '#' },
];

export const SIPP_G711A_CAPTURE = 'g711a.pcap';

export function readSippCapture(file: string): Buffer {
  const path = join(SIPP_CAPTURE_DIR, file);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install Debian's sip-tester (scripts/bootstrap.sh does) or set SIPP_PCAP_DIR`);
  }
  return readFileSync(path);
}
