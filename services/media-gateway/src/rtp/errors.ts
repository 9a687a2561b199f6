import { CatalogueError } from '../../../common/src/errors';

/**
 * Failures of the RTP layer, each with a stable code. A malformed datagram is not an
 * error of ours: the receive path counts it by code and drops it.
 */
export const RTP_ERRORS = {
  ERR_RTP_TRUNCATED: 'datagram is shorter than its RTP header says',
  ERR_RTP_VERSION: 'not RTP version 2',
  ERR_RTP_PADDING: 'padding count is zero or longer than the payload',
  ERR_PCAP_FORMAT: 'not a classic pcap file',
  ERR_PCAP_TRUNCATED: 'pcap record runs past the end of the file',
  ERR_PCAP_LINK_TYPE: 'pcap link type is not supported',
} as const;

export type RtpErrorCode = keyof typeof RTP_ERRORS;

export class RtpError extends CatalogueError(RTP_ERRORS) {}
