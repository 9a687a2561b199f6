import { isIP } from 'node:net';
import Ajv from 'ajv';
import { DIALECTS, type Dialect } from './ai-protocol/dialect';
import { CodedError } from './errors';

/**
 * Every environment variable the stack reads, with its default. The names the seed
 * README uses (DATABASE_URL, JWT_SECRET_KEY, SIP_JWT_SECRET, SIP_DOMAIN, ...) keep
 * their meaning; the rest are this project's own. Validated once with ajv, then
 * mapped into the frozen, typed {@link Config}.
 */
export const ENV_SCHEMA = {
  type: 'object',
  properties: {
    STACK_INSTANCE: {
      type: 'string',
      pattern: '^[a-z0-9-]{1,32}$',
      default: 'dev',
      description: 'Name of this local stack; keeps runtime files of parallel stacks apart.',
    },
    STATE_DIR: {
      type: 'string',
      default: '',
      description: 'Runtime directory (rendered configs, sockets, logs). Default: .local/<STACK_INSTANCE>.',
    },
    LOG_LEVEL: {
      type: 'string',
      enum: ['error', 'warn', 'info', 'debug'],
      default: 'info',
      description: 'Log level of every process.',
    },

    DATABASE_URL: {
      type: 'string',
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL URL used by the control-plane and Kamailio.',
    },
    DATABASE_CONNECT_TIMEOUT_MS: {
      type: 'integer',
      minimum: 100,
      default: 5000,
      description: 'How long a process waits for a new PostgreSQL connection before the query fails.',
    },
    JWT_SECRET_KEY: { type: 'string', minLength: 32, description: 'HMAC secret of operator API tokens.' },
    SIP_JWT_SECRET: {
      type: 'string',
      minLength: 32,
      description: 'HMAC secret of admin API tokens (SIP user management).',
    },
    SIP_SHARED_SECRET: { type: 'string', minLength: 32, description: 'HMAC secret shared with the AI platform.' },
    PROXY_SHARED_SECRET: {
      type: 'string',
      minLength: 32,
      pattern: '^[A-Za-z0-9._~+/=-]+$',
      description:
        'HMAC secret Kamailio signs every request it relays to a media gateway or SMS endpoint with (X-Bridge-Proof); they refuse anything else with 403. Letters, digits and ._~+/=- only (it is written into kamailio.cfg).',
    },
    PROXY_PROOF_MAX_AGE_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: 30,
      description:
        "How far the timestamp of an X-Bridge-Proof may be from the receiver's clock (either way): the gateways and SMS endpoint for Kamailio's proofs, Kamailio for the proofs on the calls gateways place. Each request is signed as it is sent: this covers transit and clock skew between nodes.",
    },

    SIP_DOMAIN: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: 'SIP domain and digest realm. HA1 hashes depend on it.',
    },
    SIP_LISTEN_ADDRESS: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address Kamailio binds for SIP (UDP, TCP and TLS).',
    },
    SIP_PROXY_ADDRESS: {
      type: 'string',
      default: '',
      description: 'Address SIP clients are told to use. Default: SIP_LISTEN_ADDRESS.',
    },
    SIP_PROXY_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 5060,
      description: 'SIP port (UDP and TCP).',
    },
    SIP_TLS_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 5061,
      description: 'SIP over TLS port (RFC 3261 §26.2: sips and transport=tls).',
    },
    SIP_TLS_CERT_FILE: {
      type: 'string',
      default: '',
      description:
        'PEM certificate (chain) Kamailio presents on the TLS port. Default: a self-signed one generated on first start into STATE_DIR/tls/ (set SIP_TLS_KEY_FILE with it).',
    },
    SIP_TLS_KEY_FILE: {
      type: 'string',
      default: '',
      description:
        'PEM private key of SIP_TLS_CERT_FILE. Default: generated with the self-signed certificate (mode 0600).',
    },
    SIP_TLS_CA_FILE: {
      type: 'string',
      minLength: 1,
      default: '/etc/ssl/certs/ca-certificates.crt',
      description: "CA bundle that trunk providers' TLS certificates are verified against (the system store).",
    },
    SIP_TLS_VERIFY_TRUNKS: {
      type: 'boolean',
      default: true,
      description:
        'Verify the certificate chain of trunks reached over TLS; `false` accepts any certificate (a provider with a private CA you cannot add to SIP_TLS_CA_FILE). Kamailio 5.6 checks the chain, not the host name.',
    },
    SIP_LOCKOUT_MAX_FAILURES: {
      type: 'integer',
      minimum: 1,
      default: 5,
      description:
        "Failed digest attempts on one account from one source address before that source is locked out of that account (403 whatever the password). Other sources, the owner's among them, are not affected.",
    },
    SIP_LOCKOUT_WINDOW_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 300,
      description: 'Failures older than this (since the last one) are forgotten.',
    },
    SIP_LOCKOUT_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 900,
      description: 'How long a lock (of an account for one source, or account-wide) lasts.',
    },
    SIP_SOURCE_MAX_FAILURES: {
      type: 'integer',
      minimum: 1,
      default: 20,
      description:
        'Failed or refused (locked) digest attempts from one source address, on any accounts, before the source is banned (brute force).',
    },
    SIP_STUFFING_MAX_ACCOUNTS: {
      type: 'integer',
      minimum: 1,
      default: 5,
      description: 'Distinct accounts one source address may fail on before it is banned (credential stuffing).',
    },
    SIP_SOURCE_BAN_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 3600,
      description: 'How long a source banned for brute force or credential stuffing gets no answer at all.',
    },
    SIP_ACCOUNT_LOCK_SOURCES: {
      type: 'integer',
      minimum: 1,
      default: 5,
      description:
        'Distinct source addresses failing on one account before the whole account is locked (distributed attack); its trusted sources keep working.',
    },
    SIP_TRUSTED_SOURCE_DAYS: {
      type: 'integer',
      minimum: 1,
      maximum: 365,
      default: 14,
      description:
        'A source address the account logged in from successfully within this many days is trusted: an account-wide lock does not apply to it, and its failures on that account count only towards its own lock.',
    },
    SIP_FLOOD_REQUESTS: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 100,
      description:
        'Requests one source IP may send per SIP_FLOOD_WINDOW_SECONDS (pike). At most 65535: pike keeps the limit in 16 bits, and a larger value would silently wrap to a smaller one.',
    },
    SIP_FLOOD_WINDOW_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 2,
      description: 'Sampling window of the flood check.',
    },
    SIP_FLOOD_BAN_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 300,
      description: 'How long a flooding source gets no answer at all.',
    },

    KAMAILIO_SHARED_MEMORY: { type: 'integer', minimum: 16, default: 256, description: 'Kamailio shared memory, MB.' },
    KAMAILIO_PKG_MEMORY: {
      type: 'integer',
      minimum: 4,
      default: 32,
      description: 'Kamailio private memory per process, MB.',
    },
    KAMAILIO_CHILDREN: {
      type: 'integer',
      minimum: 1,
      maximum: 64,
      default: 4,
      description: 'Kamailio worker processes per UDP socket (and TCP workers).',
    },
    KAMAILIO_RPC_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 5081,
      description:
        "Kamailio's JSON-RPC over HTTP (xhttp): it listens on KAMAILIO_CONTROL_LISTEN_ADDRESS, the control-plane and the gateways connect to KAMAILIO_RPC_HOST.",
    },
    KAMAILIO_RPC_HOST: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description:
        "Where the control-plane and the gateways reach Kamailio's JSON-RPC (an address or a DNS name, e.g. the Kamailio Service in Kubernetes).",
    },
    KAMAILIO_EVAPI_HOST: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: "Where the control-plane reaches Kamailio's evapi event stream (an address or a DNS name).",
    },
    KAMAILIO_CONTROL_LISTEN_ADDRESS: {
      type: 'string',
      pattern: '^[0-9A-Fa-f.:]+$',
      default: '127.0.0.1',
      description:
        'IP address Kamailio binds its JSON-RPC (KAMAILIO_RPC_PORT) and evapi (KAMAILIO_EVAPI_PORT) listeners on; 0.0.0.0 for all. Neither has authentication: only the control-plane and the gateways may reach them (the strict NetworkPolicy of the Helm chart does that), and Kamailio serves only KAMAILIO_RPC_ALLOWED_CIDRS.',
    },
    KAMAILIO_RPC_ALLOWED_CIDRS: {
      type: 'string',
      pattern: '^\\s*[0-9A-Fa-f.:]+/[0-9]{1,3}(\\s*,\\s*[0-9A-Fa-f.:]+/[0-9]{1,3})*\\s*$',
      default: '127.0.0.1/32',
      description:
        'Comma-separated CIDRs whose sources Kamailio serves JSON-RPC (403 otherwise) and evapi (connection closed otherwise); every refusal is logged by Kamailio. Keep it to the addresses of the control-plane and the gateways (the pod network in Kubernetes).',
    },
    KAMAILIO_EVAPI_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 8448,
      description:
        "Kamailio's evapi event stream to the control-plane (KAMAILIO_CONTROL_LISTEN_ADDRESS, KAMAILIO_EVAPI_HOST).",
    },
    KAMAILIO_CTL_SOCKET: {
      type: 'string',
      pattern: '^((unix|unixs|unixd|tcp|udp):[^"\\\\\\s]+)?$',
      default: '',
      description:
        "Kamailio's binrpc control socket, the one kamcmd talks to. Default: unix:STATE_DIR/kamailio/kamailio_ctl; in the Kamailio image unix:/var/run/kamailio/kamailio_ctl, where kamcmd looks without -s.",
    },

    MEDIA_RELAY: {
      type: 'string',
      enum: ['rtpengine', 'rtpproxy'],
      default: 'rtpengine',
      description: 'Which media relay anchors RTP.',
    },
    RELAY_ADDRESS: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address the relay advertises for RTP.',
    },
    RTPENGINE_NG_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 22223,
      description: "rtpengine NG control port (Debian's own rtpengine service uses 2223)",
    },
    RTPENGINE_NG_HOST: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description:
        "Where Kamailio and the control-plane reach rtpengine's NG control port (an address or a DNS name, e.g. the rtpengine Service in Kubernetes).",
    },
    RTPENGINE_NG_LISTEN_ADDRESS: {
      type: 'string',
      pattern: '^[0-9A-Fa-f.:]+$',
      default: '127.0.0.1',
      description:
        "IP address rtpengine binds its NG control port on. The NG protocol has no authentication: only Kamailio and the control-plane may reach it (firewall or the node's network policy).",
    },
    RTPPROXY_CONTROL_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 7722,
      description: 'RTPProxy control socket (UDP, loopback).',
    },
    RTP_PORT_MIN: {
      type: 'integer',
      minimum: 1024,
      maximum: 65535,
      default: 10000,
      description: 'First RTP port of the relay.',
    },
    RTP_PORT_MAX: {
      type: 'integer',
      minimum: 1024,
      maximum: 65535,
      default: 20000,
      description: 'Last RTP port of the relay.',
    },

    GATEWAY_SIP_ADDRESS: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: "Address the media gateway's SIP user agent binds (UDP and TCP) and Kamailio sends AI calls to.",
    },
    GATEWAY_SIP_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 5070,
      description: 'SIP port of the media gateway.',
    },
    GATEWAY_HTTP_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 8081,
      description: 'Health and Prometheus metrics of the media gateway (on GATEWAY_HTTP_HOST).',
    },
    GATEWAY_HTTP_HOST: {
      type: 'string',
      pattern: '^[0-9A-Fa-f.:]+$',
      default: '127.0.0.1',
      description:
        "IP address the media gateway's health and metrics server binds; 0.0.0.0 in a pod, so kubelet's probes and Prometheus reach it.",
    },
    GATEWAY_RTP_PORT_MIN: {
      type: 'integer',
      minimum: 1024,
      maximum: 65535,
      default: 30000,
      description: 'First RTP port of the media gateway.',
    },
    GATEWAY_RTP_PORT_MAX: {
      type: 'integer',
      minimum: 1024,
      maximum: 65535,
      default: 31999,
      description: 'Last RTP port of the media gateway.',
    },
    GATEWAY_MAX_CALLS: {
      type: 'integer',
      minimum: 1,
      default: 500,
      description: 'Calls one gateway takes at once; more get 503 and Kamailio tries another gateway.',
    },
    GATEWAY_ID: {
      type: 'string',
      default: '',
      description: 'Name of this gateway replica in the dispatcher set. Default: address:port.',
    },
    GATEWAY_WORKERS: {
      type: 'integer',
      minimum: 1,
      maximum: 64,
      default: 1,
      description:
        "Gateway processes on this host. Above 1, a primary forks that many replicas, each a whole gateway on its own event loop (replica i: SIP port GATEWAY_SIP_PORT + i, the i-th equal share of the RTP port range, id GATEWAY_ID/i, its own row in Kamailio's gateway set), and serves their health and metrics on GATEWAY_HTTP_PORT.",
    },
    GATEWAY_INBAND_DTMF: {
      type: 'string',
      enum: ['auto', 'always', 'never'],
      default: 'auto',
      description:
        "In-band DTMF tone detection on the caller's audio: `auto` only on calls that did not negotiate telephone-event (RFC 4733), `always` on every call (keys a phone sends both ways are reported once), `never`.",
    },
    GATEWAY_DB_POOL_SIZE: {
      type: 'integer',
      minimum: 1,
      default: 5,
      description: 'PostgreSQL connections of one media gateway (call records, number settings, its gateway-set row).',
    },
    GATEWAY_SIP_CALL_HEADROOM: {
      type: 'integer',
      minimum: 0,
      default: 50,
      description:
        "Calls the gateway's SIP user agent accepts beyond GATEWAY_MAX_CALLS: the gateway answers those 503 itself, with a reason; the user agent's own cap only guards it.",
    },
    GATEWAY_JITTER_MIN_MS: {
      type: 'integer',
      minimum: 0,
      default: 20,
      description: "Floor of the jitter buffer's target delay on the caller's audio.",
    },
    GATEWAY_JITTER_INITIAL_MS: {
      type: 'integer',
      minimum: 0,
      default: 40,
      description:
        "Floor of the jitter buffer's target delay while a stream's jitter is still unknown (its first 10 s).",
    },
    GATEWAY_JITTER_MAX_MS: {
      type: 'integer',
      minimum: 0,
      default: 200,
      description: 'Ceiling of the jitter buffer delay; a stream silent longer than this re-synchronises.',
    },
    GATEWAY_RTP_RECEIVE_BUFFER_BYTES: {
      type: 'integer',
      minimum: 4096,
      default: 262144,
      description:
        "Kernel receive buffer of each call's RTP socket (SO_RCVBUF), so a busy event loop does not drop packets.",
    },
    GATEWAY_LAST_WORDS_MS: {
      type: 'integer',
      minimum: 0,
      default: 5000,
      description: 'How long a call the AI hangs up keeps playing what the AI said before it, at most.',
    },
    GATEWAY_RECORDS_RETRY_MS: {
      type: 'integer',
      minimum: 0,
      default: 600000,
      description:
        'How long a call record write that meets an unavailable database is retried (in call order) before it is given up and logged.',
    },
    GATEWAY_RECORDS_DRAIN_MS: {
      type: 'integer',
      minimum: 0,
      default: 5000,
      description: 'How long a stopping gateway waits for call record writes still queued.',
    },
    GATEWAY_REPLICA_STOP_TIMEOUT_MS: {
      type: 'integer',
      minimum: 0,
      default: 15000,
      description:
        'With GATEWAY_WORKERS > 1: how long a stopping primary gives its replicas to end their calls before it kills them (at least GATEWAY_DRAIN_GRACE_SECONDS + 15 s).',
    },
    GATEWAY_DRAIN_GRACE_SECONDS: {
      type: 'integer',
      minimum: 0,
      default: 60,
      description:
        "How long a stopping gateway (SIGTERM) lets its live calls run after it stops taking new ones (503 with Retry-After, so Kamailio tries another gateway); calls still up then get a BYE and end with reason gateway_shutdown. Kubernetes' terminationGracePeriodSeconds must be longer.",
    },
    GATEWAY_LEASE_SECONDS: {
      type: 'integer',
      minimum: 3,
      default: 15,
      description:
        "Each running gateway renews a lease in PostgreSQL every third of this; a gateway whose lease expired (killed, lost) is gone: another gateway closes its active calls (end reason gateway_lost) and removes it from Kamailio's gateway set.",
    },
    // Calls the gateways place (POST /api/calls/initiate).
    KAMAILIO_SIP_HOST: {
      type: 'string',
      default: '',
      description:
        "Where the gateways send the calls they place (POST /api/calls/initiate), on SIP_PROXY_PORT over UDP: Kamailio's SIP address or DNS name (e.g. the Kamailio Service in Kubernetes). Default: SIP_LISTEN_ADDRESS.",
    },
    AI_PLATFORM_WS_URL: {
      type: 'string',
      default: '',
      description: 'WebSocket URL of the AI platform. Empty: the built-in demo agent.',
    },
    AI_DIALECT: {
      type: 'string',
      enum: DIALECTS,
      default: 'olib',
      description: 'Dialect spoken to the AI platform unless a number says otherwise.',
    },
    AI_RECONNECT_WINDOW_MS: {
      type: 'integer',
      minimum: 0,
      default: 10000,
      description: 'How long a call waits (on hold audio) for a lost AI WebSocket to come back before hanging up.',
    },
    AI_RECONNECT_INITIAL_DELAY_MS: {
      type: 'integer',
      minimum: 1,
      default: 200,
      description: 'First delay before reconnecting a lost AI WebSocket; it doubles each attempt (with jitter).',
    },
    AI_RECONNECT_MAX_DELAY_MS: {
      type: 'integer',
      minimum: 1,
      default: 2000,
      description: 'Longest delay between two reconnect attempts.',
    },
    AI_CONNECT_TIMEOUT_MS: {
      type: 'integer',
      minimum: 100,
      default: 5000,
      description: "Deadline of the AI WebSocket's handshake and acceptance (each connect and reconnect attempt).",
    },
    AI_CLOSE_TIMEOUT_MS: {
      type: 'integer',
      minimum: 0,
      default: 1000,
      description: 'How long an ending call waits for the AI platform to close its WebSocket after call_end.',
    },
    AI_HEARTBEAT_MS: {
      type: 'integer',
      minimum: 0,
      default: 5000,
      description:
        'WebSocket ping (and application ping) period towards the AI platform; silence for two periods is a lost socket. 0 disables.',
    },
    AI_QUEUE_MAX_MS: {
      type: 'integer',
      minimum: 20,
      default: 2000,
      description:
        'Caller audio that may wait for a slow or reconnecting AI WebSocket; beyond it the oldest is dropped.',
    },
    RECORDINGS_DIR: {
      type: 'string',
      default: '',
      description:
        'Where call recordings are written while a call lasts (and kept, with RECORDINGS_STORAGE=local). Default: STATE_DIR/recordings.',
    },
    RECORDINGS_STORAGE: {
      type: 'string',
      enum: ['local', 'postgres'],
      default: 'local',
      description:
        "Where a media gateway keeps a finished recording: `local` leaves the WAV in RECORDINGS_DIR (one machine; the control-plane must see the same directory); `postgres` moves it into the database when the call ends, so any control-plane replica serves what any gateway recorded (Kubernetes). The control-plane reads either, whichever the call's recording is in.",
    },
    HOLD_MUSIC_DIR: {
      type: 'string',
      default: '',
      description:
        "Where the media gateway finds numbers' music on hold (the numbers API's hold_music names a WAV file in it: 8 or 16 kHz, 16-bit PCM or G.711, mono or stereo). Default: STATE_DIR/hold-music.",
    },
    HOLD_MUSIC_CACHE_DIR: {
      type: 'string',
      default: '',
      description:
        'Where the media gateway writes the hold tune it generates at start (default.wav), for operators to listen to. Default: STATE_DIR/cache/hold-music.',
    },
    HOLD_MUSIC_CACHE_MB: {
      type: 'integer',
      minimum: 1,
      maximum: 4096,
      default: 32,
      description:
        'Music on hold a media gateway keeps in memory, encoded for the call legs (each piece once per codec, 8 KB a second); beyond it the least recently played piece is dropped and encoded again when next needed.',
    },
    IVR_PROMPT_CACHE_DIR: {
      type: 'string',
      default: '',
      description:
        'Where the media gateway keeps IVR prompts it spoke with espeak-ng (8 kHz WAV files named by the SHA-256 of voice and text), so a gateway renders each text once, across restarts. Default: STATE_DIR/cache/ivr-prompts.',
    },
    IVR_PROMPT_CACHE_MB: {
      type: 'integer',
      minimum: 1,
      maximum: 4096,
      default: 32,
      description:
        'IVR prompts (spoken and uploaded) a media gateway keeps in memory, encoded for the call legs (8 KB a second per codec); beyond it the least recently played is dropped and read again from the disk cache or the database.',
    },
    IVR_TTS_COMMAND: {
      type: 'string',
      minLength: 1,
      default: 'espeak-ng',
      description: "The espeak-ng binary (a name on PATH or a path) that speaks menus' text prompts.",
    },
    IVR_TTS_VOICE: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_+-]{0,39}$',
      default: 'en-us',
      description: "espeak-ng's voice for text prompts that name none (`espeak-ng --voices` lists them).",
    },
    IVR_TTS_TIMEOUT_MS: {
      type: 'integer',
      minimum: 500,
      maximum: 120000,
      default: 10000,
      description:
        'How long espeak-ng may take to speak one prompt; past it the render is killed and the menu plays without its prompt (logged, counted).',
    },
    IVR_RING_TIMEOUT_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 300,
      default: 30,
      description:
        "How long a SIP user or external number a menu sends the caller to may ring when the menu's action names no ring_timeout_seconds; then the caller is back in the menu.",
    },
    DEMO_AGENT_HOST: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address of the built-in demo agent.',
    },
    DEMO_AGENT_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 8090,
      description: 'Port of the built-in demo agent.',
    },
    DEMO_AGENT_MODE: {
      type: 'string',
      enum: ['echo', 'greeting', 'dtmf-menu'],
      default: 'greeting',
      description: 'What the demo agent does when a number does not say (ai_options.mode).',
    },
    SMS_SIP_ADDRESS: {
      type: 'string',
      minLength: 1,
      default: '127.0.0.1',
      description:
        "Address the control-plane's SMS endpoint binds (SIP MESSAGE over UDP and TCP); Kamailio sends it every MESSAGE for our numbers.",
    },
    SMS_SIP_PORT: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      default: 5090,
      description: 'SIP port of the SMS endpoint.',
    },
    SMS_WORKER: {
      type: 'boolean',
      default: true,
      description:
        'Whether this control-plane replica sends and delivers queued SMS (the API and the SIP endpoint run either way).',
    },
    SMS_MAX_ATTEMPTS: {
      type: 'integer',
      minimum: 1,
      maximum: 50,
      default: 6,
      description: 'Attempts before a message that keeps meeting 408/480/5xx/timeouts is failed.',
    },
    SMS_RETRY_BASE_MS: {
      type: 'integer',
      minimum: 10,
      default: 2000,
      description:
        'First retry delay; it doubles each attempt (with jitter: between half and all of it), up to SMS_RETRY_MAX_MS.',
    },
    SMS_RETRY_MAX_MS: {
      type: 'integer',
      minimum: 10,
      default: 300000,
      description: 'Longest delay between two attempts.',
    },
    SMS_BATCH_SIZE: {
      type: 'integer',
      minimum: 1,
      maximum: 5000,
      default: 500,
      description: 'Messages a worker claims from the queue at once.',
    },
    SMS_USER_OFFLINE_RETRY_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 300,
      description:
        'A message for a user who is not registered waits this long (or until the user registers) before the next try.',
    },
    SMS_USER_HOLD_HOURS: {
      type: 'integer',
      minimum: 1,
      default: 168,
      description: 'How long a message waits for an offline user before it is failed.',
    },
    SMS_PART_TIMEOUT_SECONDS: {
      type: 'integer',
      minimum: 1,
      default: 600,
      description:
        'How long the parts of a concatenated inbound message wait for the missing ones; then what arrived is delivered.',
    },
    SMS_AI_TIMEOUT_MS: {
      type: 'integer',
      minimum: 100,
      default: 10000,
      description: 'Deadline of one delivery to the AI platform (WebSocket or webhook).',
    },
    WEBHOOK_SIGNING_SECRET: {
      type: 'string',
      // Empty, or at least 32 characters.
      pattern: '^(.{32,})?$',
      default: '',
      description:
        'HMAC secret call webhooks are signed with (X-Bridge-Signature, docs/webhooks.md); give it to your webhook receivers. `npm start` generates one. Without it the control-plane delivers no webhook: events wait in the outbox until it is set.',
    },
    WEBHOOK_TIMEOUT_MS: {
      type: 'integer',
      minimum: 100,
      maximum: 120000,
      default: 10000,
      description:
        'How long one webhook request may take (connecting, sending, the response status); longer counts as a failed attempt and is retried.',
    },
    WEBHOOK_MAX_ATTEMPTS: {
      type: 'integer',
      minimum: 1,
      maximum: 100,
      default: 12,
      description:
        'Attempts of one webhook event before it is failed for good (then the next event of the call goes out).',
    },
    WEBHOOK_RETRY_BASE_MS: {
      type: 'integer',
      minimum: 10,
      default: 5000,
      description:
        'First webhook retry delay; it doubles each attempt (with jitter: between half and all of it), up to one hour. A Retry-After in a 429 or 503 answer is honoured up to the same hour.',
    },
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: {
      type: 'boolean',
      default: false,
      description:
        'Whether webhooks may go to loopback, private (RFC 1918, unique local), link-local and other non-public addresses. Off, such deliveries are refused (checked after DNS resolution), so a webhook URL cannot reach into your network. The local dev and test stacks turn it on.',
    },
    AI_ROUTE_ALLOW_PRIVATE_ADDRESSES: {
      type: 'boolean',
      default: false,
      description:
        'Whether an AI route (POST /api/ai-routes) may name a loopback, private, link-local or other non-public address, or localhost, in its agent_url. Off, such URLs are refused (400 ERR_AI_URL_INVALID), so an API client cannot point the gateways into your network; turn it on when your AI agents run inside it. The local dev and test stacks turn it on.',
    },
    API_HOST: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address the REST API binds.' },
    API_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'Port of the REST API.' },
    API_ALLOWED_CIDRS: {
      type: 'string',
      default: '',
      description: 'Comma-separated CIDRs allowed to call the API; empty allows all.',
    },
    API_RATE_LIMIT_PER_IP: {
      type: 'integer',
      minimum: 1,
      default: 600,
      description: 'Requests per minute per source IP.',
    },
    API_RATE_LIMIT_PER_TOKEN: {
      type: 'integer',
      minimum: 1,
      default: 1200,
      description: 'Requests per minute per bearer token.',
    },
    API_KEEP_ALIVE_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 600,
      default: 65,
      description:
        'How long the API keeps an idle keep-alive connection open. Longer than the idle timeout of its clients and of any load balancer in front (commonly 60 s), so they always close first: a server that closes first races a client reusing the connection, which then fails with "socket hang up".',
    },
    API_DB_POOL_SIZE: {
      type: 'integer',
      minimum: 1,
      default: 10,
      description: 'PostgreSQL connections of one control-plane (API, SMS queue and endpoint).',
    },
    KAMAILIO_SYNC_INTERVAL_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: 30,
      description:
        'How often the leading control-plane replica (one at a time, elected through a PostgreSQL advisory lock) compares the trunk, number and blocklist tables with what Kamailio was last given and reloads what changed.',
    },

    // Call control: commands to live calls (POST /api/calls/{call_id}/hangup, ...).
    CALL_COMMAND_TIMEOUT_MS: {
      type: 'integer',
      minimum: 500,
      maximum: 120000,
      default: 10000,
      description:
        'How long POST /api/calls/{call_id}/hangup, /transfer, /hold and /resume wait for the gateway that owns the call to carry the command out before answering 504 ERR_CALL_COMMAND_TIMEOUT. A command no gateway took by then is dropped, so it never runs late.',
    },
    CALL_COMMAND_POLL_MS: {
      type: 'integer',
      minimum: 50,
      maximum: 10000,
      default: 1000,
      description:
        'How often a gateway looks for commands in PostgreSQL besides being woken by NOTIFY (the fallback when a notification is lost, e.g. while its listening connection reconnects).',
    },
    GATEWAY_COMMAND_CONCURRENCY: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 16,
      description: 'Commands to live calls one gateway carries out at once; more wait in PostgreSQL.',
    },

    // Transfers (bridged and warm: the gateway dials the target).
    TRANSFER_RING_TIMEOUT_SECONDS: {
      type: 'integer',
      minimum: 5,
      maximum: 300,
      default: 30,
      description:
        'How long the target of a bridged or warm transfer may ring before the gateway gives up (CANCEL) and the caller goes back to the AI, which is told `transfer_failed` with reason `no_answer`.',
    },
    LISTEN_FORK_IDLE_SECONDS: {
      type: 'integer',
      minimum: 5,
      maximum: 3600,
      default: 30,
      description:
        'A listen-only fork (docs/listen-forks.md) that has received no audio from the media relay for this long ends itself: the call it copied is gone and its end was not reported.',
    },
  },
  required: ['DATABASE_URL', 'JWT_SECRET_KEY', 'SIP_JWT_SECRET', 'SIP_SHARED_SECRET', 'PROXY_SHARED_SECRET'],
} as const;

export type MediaRelayKind = 'rtpengine' | 'rtpproxy';

export interface Config {
  readonly instance: string;
  readonly stateDir: string;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  readonly databaseUrl: string;
  readonly databaseConnectTimeoutMs: number;
  readonly secrets: {
    readonly jwtSecretKey: string;
    readonly sipJwtSecret: string;
    readonly sipSharedSecret: string;
    /** Kamailio → gateway / SMS endpoint request proof (services/common/src/sip/proxy-proof.ts). */
    readonly proxySharedSecret: string;
  };
  /** Seconds an X-Bridge-Proof timestamp may be off. */
  readonly proxyProofMaxAgeSeconds: number;
  readonly sip: {
    readonly domain: string;
    readonly listenAddress: string;
    readonly proxyAddress: string;
    readonly port: number;
    readonly tls: SipTlsConfig;
    readonly lockout: { readonly maxFailures: number; readonly windowSeconds: number; readonly lockSeconds: number };
    /** Brute-force defences beyond the per account and source lock (kamailio.cfg route[AUTH_FAILED]). */
    readonly bruteForce: {
      readonly sourceMaxFailures: number;
      readonly stuffingMaxAccounts: number;
      readonly sourceBanSeconds: number;
      readonly accountLockSources: number;
      readonly trustedSourceDays: number;
    };
    readonly flood: { readonly requests: number; readonly windowSeconds: number; readonly banSeconds: number };
  };
  readonly kamailio: {
    readonly sharedMemoryMb: number;
    readonly pkgMemoryMb: number;
    readonly children: number;
    readonly rpcPort: number;
    readonly evapiPort: number;
    /** Where clients connect (address or DNS name). */
    readonly rpcHost: string;
    readonly evapiHost: string;
    /** Address Kamailio binds JSON-RPC and evapi on. */
    readonly controlListenAddress: string;
    /** Sources Kamailio serves JSON-RPC and evapi (CIDRs). */
    readonly rpcAllowedCidrs: readonly string[];
    /** binrpc control socket for kamcmd (`unix:<path>` or `tcp:<host>:<port>`). */
    readonly ctlSocket: string;
  };
  readonly relay: {
    readonly kind: MediaRelayKind;
    readonly address: string;
    readonly rtpengineNgPort: number;
    /** Where Kamailio and the control-plane send NG commands (address or DNS name). */
    readonly rtpengineNgHost: string;
    /** Address rtpengine binds its NG port on. */
    readonly rtpengineNgListenAddress: string;
    readonly rtpproxyControlPort: number;
    readonly rtpPortMin: number;
    readonly rtpPortMax: number;
  };
  readonly gateway: {
    readonly id: string;
    readonly sipAddress: string;
    readonly sipPort: number;
    readonly httpPort: number;
    /** Address the ops (health, metrics) server binds. */
    readonly httpHost: string;
    readonly rtpPortMin: number;
    readonly rtpPortMax: number;
    readonly maxCalls: number;
    readonly recordingsDir: string;
    readonly recordingsStorage: 'local' | 'postgres';
    readonly inbandDtmf: 'auto' | 'always' | 'never';
    readonly workers: number;
    readonly dbPoolSize: number;
    /** Calls the SIP user agent takes beyond maxCalls (the call manager answers those 503). */
    readonly sipCallHeadroom: number;
    readonly jitter: { readonly minDelayMs: number; readonly initialDelayMs: number; readonly maxDelayMs: number };
    readonly rtpReceiveBufferBytes: number;
    readonly lastWordsMs: number;
    readonly recordsRetryMs: number;
    readonly recordsDrainMs: number;
    readonly replicaStopTimeoutMs: number;
    readonly drainGraceMs: number;
    readonly leaseMs: number;
    /** Kamailio's SIP address for the calls the gateway places (KAMAILIO_SIP_HOST). */
    readonly outboundProxyHost: string;
    readonly holdMusic: { readonly dir: string; readonly cacheDir: string; readonly cacheBytes: number };
    /** IVR menus: prompt rendering and caches, and how long a menu's bridge rings. */
    readonly ivr: {
      readonly promptCacheDir: string;
      readonly promptCacheBytes: number;
      readonly ttsCommand: string;
      readonly ttsVoice: string;
      readonly ttsTimeoutMs: number;
      readonly ringTimeoutMs: number;
    };
  };
  readonly ai: {
    /** Where calls go unless their number names an agent URL: AI_PLATFORM_WS_URL or the demo agent. */
    readonly defaultUrl: string;
    readonly dialect: Dialect;
    readonly reconnectWindowMs: number;
    readonly reconnectInitialDelayMs: number;
    readonly reconnectMaxDelayMs: number;
    readonly connectTimeoutMs: number;
    readonly closeTimeoutMs: number;
    readonly heartbeatMs: number;
    readonly queueMaxMs: number;
  };
  readonly demoAgent: { readonly host: string; readonly port: number };
  readonly sms: {
    readonly sipAddress: string;
    readonly sipPort: number;
    readonly worker: boolean;
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly batchSize: number;
    readonly userOfflineRetrySeconds: number;
    readonly userHoldHours: number;
    readonly partTimeoutSeconds: number;
    readonly aiTimeoutMs: number;
  };
  /** Commands to live calls (db/migrations/0047, services/common/src/calls/commands.ts). */
  readonly callControl: {
    readonly commandTimeoutMs: number;
    readonly commandPollMs: number;
    readonly gatewayConcurrency: number;
  };
  /** Transfers of live calls (services/media-gateway/src/calls/transfer.ts). */
  readonly transfers: {
    readonly ringTimeoutSeconds: number;
  };
  /** Listen-only forks of calls between people (docs/listen-forks.md). */
  readonly listenForks: { readonly idleMs: number };
  /** Call webhooks (docs/webhooks.md). */
  readonly webhooks: {
    /** '' when WEBHOOK_SIGNING_SECRET is not set: nothing is delivered. */
    readonly signingSecret: string;
    readonly timeoutMs: number;
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    readonly allowPrivateAddresses: boolean;
  };
  /** AI routes (docs/ivr-and-queues-api.md). */
  readonly aiRoutes: { readonly allowPrivateAddresses: boolean };
  readonly api: {
    readonly host: string;
    readonly port: number;
    readonly allowedCidrs: readonly string[];
    readonly rateLimitPerIp: number;
    readonly rateLimitPerToken: number;
    readonly keepAliveSeconds: number;
    readonly dbPoolSize: number;
    readonly kamailioSyncIntervalSeconds: number;
  };
}

/** SIP over TLS: where Kamailio listens and which files it uses. */
export interface SipTlsConfig {
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  /** Whether certFile/keyFile are the generated self-signed pair (created on first start when missing). */
  readonly selfSigned: boolean;
  readonly caFile: string;
  readonly verifyTrunks: boolean;
}

/**
 * The certificate and key: both given, or neither (then a self-signed pair under
 * STATE_DIR/tls/, generated on first start). One without the other is an error.
 */
export function resolveTlsFiles(
  certFile: string,
  keyFile: string,
  stateDir: string,
): Pick<SipTlsConfig, 'certFile' | 'keyFile' | 'selfSigned'> {
  if (certFile && keyFile) return { certFile, keyFile, selfSigned: false };
  if (certFile || keyFile) {
    throw new ConfigError(
      'invalid configuration: SIP_TLS_CERT_FILE and SIP_TLS_KEY_FILE go together (set both, or neither for a generated self-signed pair)',
    );
  }
  return { certFile: `${stateDir}/tls/sip-cert.pem`, keyFile: `${stateDir}/tls/sip-key.pem`, selfSigned: true };
}

/** The environment does not describe a valid configuration; the message names every problem. */
export class ConfigError extends CodedError<'ERR_CONFIG_INVALID'> {
  constructor(message: string) {
    super('ERR_CONFIG_INVALID', message);
  }
}

type Env = Record<string, string | undefined>;

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true });
const validateEnv = ajv.compile(ENV_SCHEMA);

/** Reads, validates and freezes the configuration from an environment. */
export function loadConfig(env: Env, repoRoot: string = process.cwd()): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ENV_SCHEMA.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  if (!validateEnv(raw)) {
    const problems = (validateEnv.errors ?? []).map((e) => {
      const name = e.instancePath ? e.instancePath.slice(1) : String(e.params['missingProperty'] ?? '');
      return `${name} ${e.message ?? 'is invalid'}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const num = (k: string): number => raw[k] as number;
  const str = (k: string): string => raw[k] as string;
  if (num('RTP_PORT_MIN') >= num('RTP_PORT_MAX')) {
    throw new ConfigError('invalid configuration: RTP_PORT_MIN must be below RTP_PORT_MAX');
  }
  if (num('GATEWAY_RTP_PORT_MIN') >= num('GATEWAY_RTP_PORT_MAX')) {
    throw new ConfigError('invalid configuration: GATEWAY_RTP_PORT_MIN must be below GATEWAY_RTP_PORT_MAX');
  }
  if (!(
    num('GATEWAY_JITTER_MIN_MS') <= num('GATEWAY_JITTER_INITIAL_MS') &&
    num('GATEWAY_JITTER_INITIAL_MS') <= num('GATEWAY_JITTER_MAX_MS')
  )) {
    throw new ConfigError(
      'invalid configuration: GATEWAY_JITTER_MIN_MS <= GATEWAY_JITTER_INITIAL_MS <= GATEWAY_JITTER_MAX_MS must hold',
    );
  }
  if (num('AI_RECONNECT_INITIAL_DELAY_MS') > num('AI_RECONNECT_MAX_DELAY_MS')) {
    throw new ConfigError(
      'invalid configuration: AI_RECONNECT_INITIAL_DELAY_MS must not exceed AI_RECONNECT_MAX_DELAY_MS',
    );
  }
  if (num('SIP_TLS_PORT') === num('SIP_PROXY_PORT')) {
    throw new ConfigError('invalid configuration: SIP_TLS_PORT must differ from SIP_PROXY_PORT (both are TCP ports)');
  }
  const badCidr = str('KAMAILIO_RPC_ALLOWED_CIDRS')
    .split(',')
    .map((c) => c.trim())
    .find((c) => !isCidr(c));
  if (badCidr !== undefined) {
    throw new ConfigError(`invalid configuration: KAMAILIO_RPC_ALLOWED_CIDRS: ${badCidr} is not an IP address/prefix`);
  }
  for (const key of ['KAMAILIO_CONTROL_LISTEN_ADDRESS', 'RTPENGINE_NG_LISTEN_ADDRESS', 'GATEWAY_HTTP_HOST']) {
    if (isIP(str(key)) === 0) throw new ConfigError(`invalid configuration: ${key} must be an IP address`);
  }
  const instance = str('STACK_INSTANCE');
  const stateDir = str('STATE_DIR') || `${repoRoot}/.local/${instance}`;
  const demoAgent = { host: str('DEMO_AGENT_HOST'), port: num('DEMO_AGENT_PORT') };
  const config: Config = {
    instance,
    stateDir,
    logLevel: str('LOG_LEVEL') as Config['logLevel'],
    databaseUrl: str('DATABASE_URL'),
    databaseConnectTimeoutMs: num('DATABASE_CONNECT_TIMEOUT_MS'),
    secrets: {
      jwtSecretKey: str('JWT_SECRET_KEY'),
      sipJwtSecret: str('SIP_JWT_SECRET'),
      sipSharedSecret: str('SIP_SHARED_SECRET'),
      proxySharedSecret: str('PROXY_SHARED_SECRET'),
    },
    proxyProofMaxAgeSeconds: num('PROXY_PROOF_MAX_AGE_SECONDS'),
    sip: {
      domain: str('SIP_DOMAIN'),
      listenAddress: str('SIP_LISTEN_ADDRESS'),
      proxyAddress: str('SIP_PROXY_ADDRESS') || str('SIP_LISTEN_ADDRESS'),
      port: num('SIP_PROXY_PORT'),
      tls: {
        port: num('SIP_TLS_PORT'),
        ...resolveTlsFiles(str('SIP_TLS_CERT_FILE'), str('SIP_TLS_KEY_FILE'), stateDir),
        caFile: str('SIP_TLS_CA_FILE'),
        verifyTrunks: raw['SIP_TLS_VERIFY_TRUNKS'] as boolean,
      },
      lockout: {
        maxFailures: num('SIP_LOCKOUT_MAX_FAILURES'),
        windowSeconds: num('SIP_LOCKOUT_WINDOW_SECONDS'),
        lockSeconds: num('SIP_LOCKOUT_SECONDS'),
      },
      bruteForce: {
        sourceMaxFailures: num('SIP_SOURCE_MAX_FAILURES'),
        stuffingMaxAccounts: num('SIP_STUFFING_MAX_ACCOUNTS'),
        sourceBanSeconds: num('SIP_SOURCE_BAN_SECONDS'),
        accountLockSources: num('SIP_ACCOUNT_LOCK_SOURCES'),
        trustedSourceDays: num('SIP_TRUSTED_SOURCE_DAYS'),
      },
      flood: {
        requests: num('SIP_FLOOD_REQUESTS'),
        windowSeconds: num('SIP_FLOOD_WINDOW_SECONDS'),
        banSeconds: num('SIP_FLOOD_BAN_SECONDS'),
      },
    },
    kamailio: {
      sharedMemoryMb: num('KAMAILIO_SHARED_MEMORY'),
      pkgMemoryMb: num('KAMAILIO_PKG_MEMORY'),
      children: num('KAMAILIO_CHILDREN'),
      rpcPort: num('KAMAILIO_RPC_PORT'),
      evapiPort: num('KAMAILIO_EVAPI_PORT'),
      rpcHost: str('KAMAILIO_RPC_HOST'),
      evapiHost: str('KAMAILIO_EVAPI_HOST'),
      controlListenAddress: str('KAMAILIO_CONTROL_LISTEN_ADDRESS'),
      rpcAllowedCidrs: str('KAMAILIO_RPC_ALLOWED_CIDRS')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      ctlSocket: str('KAMAILIO_CTL_SOCKET') || `unix:${stateDir}/kamailio/kamailio_ctl`,
    },
    relay: {
      kind: str('MEDIA_RELAY') as MediaRelayKind,
      address: str('RELAY_ADDRESS'),
      rtpengineNgPort: num('RTPENGINE_NG_PORT'),
      rtpengineNgHost: str('RTPENGINE_NG_HOST'),
      rtpengineNgListenAddress: str('RTPENGINE_NG_LISTEN_ADDRESS'),
      rtpproxyControlPort: num('RTPPROXY_CONTROL_PORT'),
      rtpPortMin: num('RTP_PORT_MIN'),
      rtpPortMax: num('RTP_PORT_MAX'),
    },
    gateway: {
      id: str('GATEWAY_ID') || `${str('GATEWAY_SIP_ADDRESS')}:${num('GATEWAY_SIP_PORT')}`,
      sipAddress: str('GATEWAY_SIP_ADDRESS'),
      sipPort: num('GATEWAY_SIP_PORT'),
      httpPort: num('GATEWAY_HTTP_PORT'),
      httpHost: str('GATEWAY_HTTP_HOST'),
      rtpPortMin: num('GATEWAY_RTP_PORT_MIN'),
      rtpPortMax: num('GATEWAY_RTP_PORT_MAX'),
      maxCalls: num('GATEWAY_MAX_CALLS'),
      recordingsDir: str('RECORDINGS_DIR') || `${stateDir}/recordings`,
      recordingsStorage: str('RECORDINGS_STORAGE') as Config['gateway']['recordingsStorage'],
      inbandDtmf: str('GATEWAY_INBAND_DTMF') as Config['gateway']['inbandDtmf'],
      workers: num('GATEWAY_WORKERS'),
      dbPoolSize: num('GATEWAY_DB_POOL_SIZE'),
      sipCallHeadroom: num('GATEWAY_SIP_CALL_HEADROOM'),
      jitter: {
        minDelayMs: num('GATEWAY_JITTER_MIN_MS'),
        initialDelayMs: num('GATEWAY_JITTER_INITIAL_MS'),
        maxDelayMs: num('GATEWAY_JITTER_MAX_MS'),
      },
      rtpReceiveBufferBytes: num('GATEWAY_RTP_RECEIVE_BUFFER_BYTES'),
      lastWordsMs: num('GATEWAY_LAST_WORDS_MS'),
      recordsRetryMs: num('GATEWAY_RECORDS_RETRY_MS'),
      recordsDrainMs: num('GATEWAY_RECORDS_DRAIN_MS'),
      replicaStopTimeoutMs: num('GATEWAY_REPLICA_STOP_TIMEOUT_MS'),
      drainGraceMs: num('GATEWAY_DRAIN_GRACE_SECONDS') * 1000,
      leaseMs: num('GATEWAY_LEASE_SECONDS') * 1000,
      outboundProxyHost: str('KAMAILIO_SIP_HOST') || str('SIP_LISTEN_ADDRESS'),
      holdMusic: {
        dir: str('HOLD_MUSIC_DIR') || `${stateDir}/hold-music`,
        cacheDir: str('HOLD_MUSIC_CACHE_DIR') || `${stateDir}/cache/hold-music`,
        cacheBytes: num('HOLD_MUSIC_CACHE_MB') * 1024 * 1024,
      },
      ivr: {
        promptCacheDir: str('IVR_PROMPT_CACHE_DIR') || `${stateDir}/cache/ivr-prompts`,
        promptCacheBytes: num('IVR_PROMPT_CACHE_MB') * 1024 * 1024,
        ttsCommand: str('IVR_TTS_COMMAND'),
        ttsVoice: str('IVR_TTS_VOICE'),
        ttsTimeoutMs: num('IVR_TTS_TIMEOUT_MS'),
        ringTimeoutMs: num('IVR_RING_TIMEOUT_SECONDS') * 1000,
      },
    },
    ai: {
      defaultUrl: str('AI_PLATFORM_WS_URL') || `ws://${demoAgent.host}:${demoAgent.port}`,
      dialect: str('AI_DIALECT') as Config['ai']['dialect'],
      reconnectWindowMs: num('AI_RECONNECT_WINDOW_MS'),
      reconnectInitialDelayMs: num('AI_RECONNECT_INITIAL_DELAY_MS'),
      reconnectMaxDelayMs: num('AI_RECONNECT_MAX_DELAY_MS'),
      connectTimeoutMs: num('AI_CONNECT_TIMEOUT_MS'),
      closeTimeoutMs: num('AI_CLOSE_TIMEOUT_MS'),
      heartbeatMs: num('AI_HEARTBEAT_MS'),
      queueMaxMs: num('AI_QUEUE_MAX_MS'),
    },
    demoAgent,
    sms: {
      sipAddress: str('SMS_SIP_ADDRESS'),
      sipPort: num('SMS_SIP_PORT'),
      worker: raw['SMS_WORKER'] as boolean,
      maxAttempts: num('SMS_MAX_ATTEMPTS'),
      retryBaseMs: num('SMS_RETRY_BASE_MS'),
      retryMaxMs: num('SMS_RETRY_MAX_MS'),
      batchSize: num('SMS_BATCH_SIZE'),
      userOfflineRetrySeconds: num('SMS_USER_OFFLINE_RETRY_SECONDS'),
      userHoldHours: num('SMS_USER_HOLD_HOURS'),
      partTimeoutSeconds: num('SMS_PART_TIMEOUT_SECONDS'),
      aiTimeoutMs: num('SMS_AI_TIMEOUT_MS'),
    },
    webhooks: {
      signingSecret: str('WEBHOOK_SIGNING_SECRET'),
      timeoutMs: num('WEBHOOK_TIMEOUT_MS'),
      maxAttempts: num('WEBHOOK_MAX_ATTEMPTS'),
      retryBaseMs: num('WEBHOOK_RETRY_BASE_MS'),
      allowPrivateAddresses: raw['WEBHOOK_ALLOW_PRIVATE_ADDRESSES'] as boolean,
    },
    aiRoutes: { allowPrivateAddresses: raw['AI_ROUTE_ALLOW_PRIVATE_ADDRESSES'] as boolean },
    api: {
      host: str('API_HOST'),
      port: num('API_PORT'),
      allowedCidrs: str('API_ALLOWED_CIDRS')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      rateLimitPerIp: num('API_RATE_LIMIT_PER_IP'),
      rateLimitPerToken: num('API_RATE_LIMIT_PER_TOKEN'),
      keepAliveSeconds: num('API_KEEP_ALIVE_SECONDS'),
      dbPoolSize: num('API_DB_POOL_SIZE'),
      kamailioSyncIntervalSeconds: num('KAMAILIO_SYNC_INTERVAL_SECONDS'),
    },
    callControl: {
      commandTimeoutMs: num('CALL_COMMAND_TIMEOUT_MS'),
      commandPollMs: num('CALL_COMMAND_POLL_MS'),
      gatewayConcurrency: num('GATEWAY_COMMAND_CONCURRENCY'),
    },
    transfers: {
      ringTimeoutSeconds: num('TRANSFER_RING_TIMEOUT_SECONDS'),
    },
    listenForks: { idleMs: num('LISTEN_FORK_IDLE_SECONDS') * 1000 },
  };
  return deepFreeze(config);
}

/** `address/prefix` with a prefix the address family allows. */
function isCidr(value: string): boolean {
  const [address = '', prefix = '', extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined || !/^[0-9]{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
