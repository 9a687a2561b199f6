/**
 * The media gateway's SIP layer (RFC 3261 subset for a UA behind Kamailio: it answers
 * calls and places them). The gateway uses {@link UserAgent}; the layers below are
 * exported for tools and tests.
 */
export {
  UserAgent,
  type UserAgentOptions,
  type RequestAdmission,
  type AdmissionVerdict,
  type RefusedRequest,
} from './user-agent';
export {
  ProxyProofVerifier,
  signProxyProof,
  PROXY_PROOF_HEADER,
  NOT_THROUGH_PROXY,
  DEFAULT_PROOF_MAX_AGE_SECONDS,
  type ProxyProofFailure,
  type ProxyProofVerdict,
} from './proxy-proof';
export { IncomingCall, type IncomingCallState } from './dialog/incoming-call';
export {
  OutgoingCall,
  type OutgoingCallState,
  type OutgoingCallResult,
  type InviteOptions,
  type CallFailure,
} from './dialog/outgoing-call';
export {
  Dialog,
  type DialogState,
  type TerminationReason,
  type ReinviteReply,
  type ReinviteReject,
  type ReinviteResult,
  type ReferResult,
} from './dialog/dialog';
export type { DtmfInfo } from './dialog/dtmf';
export { SipError, SipParseError, SIP_ERRORS, type SipErrorCode } from './errors';
export type { SipLogger } from './logger';
export type { SipRequest, SipResponse, SipMessage } from './message/message';
export { parseNameAddr, formatNameAddr, tagOf, type NameAddr } from './message/name-addr';
export { parseUri, formatUri, type SipUri } from './message/uri';
export type { TimerOverrides, TimerValues } from './transaction/timers';
export type { SipTransport, TransportProtocol, TransportTarget, MessageSource } from './transport/transport';
