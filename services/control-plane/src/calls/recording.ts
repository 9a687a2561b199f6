import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';

/** Whether `path` lies strictly below `dir` (both absolute and normalised). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * Where a stored recording path points, if that is inside `dir`: relative paths are
 * taken from `dir`, `..` segments are resolved first. Null for anything outside.
 */
export function recordingPathIn(dir: string, stored: string): string | null {
  if (stored === '' || stored.includes('\0')) return null;
  const root = resolve(dir);
  const path = resolve(root, stored);
  return isInside(root, path) ? path : null;
}

export interface LocatedRecording {
  /** The file's real path (symbolic links resolved). */
  readonly path: string;
  readonly bytes: number;
}

export interface OpenedRecording {
  readonly bytes: number;
  /** Reads the file from an open descriptor; destroying it closes the file. */
  readonly stream: Readable;
}

/** What is logged when a stored path points outside the directory. */
export interface RecordingWarnings {
  warn(message: string, meta?: object): unknown;
}

// A file that is not there (or a path through something that is not a directory) is
// missing; ELOOP is O_NOFOLLOW refusing a symbolic link swapped in after the check.
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

function isMissing(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && MISSING.has(code);
}

/**
 * The media gateways' recordings directory (RECORDINGS_DIR), read-only. A path from
 * the database is served only if it names a regular file inside the directory, both
 * as written and after resolving symbolic links: a row (or a link in the directory)
 * pointing at /etc/passwd reads as a missing recording.
 */
export class RecordingFiles {
  private readonly root: string;

  constructor(
    dir: string,
    private readonly logger: RecordingWarnings,
  ) {
    this.root = resolve(dir);
  }

  /** The recording's real path and size, or null when there is no such file inside the directory. */
  async locate(stored: string): Promise<LocatedRecording | null> {
    const path = recordingPathIn(this.root, stored);
    if (path === null) {
      this.logger.warn('recording path outside RECORDINGS_DIR refused', {
        recording_path: stored,
        recordings_dir: this.root,
      });
      return null;
    }
    let realRoot: string;
    let real: string;
    try {
      [realRoot, real] = await Promise.all([realpath(this.root), realpath(path)]);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    if (!isInside(realRoot, real)) {
      this.logger.warn('recording is a link to outside RECORDINGS_DIR; refused', {
        recording_path: stored,
        target: real,
      });
      return null;
    }
    const s = await stat(real);
    return s.isFile() ? { path: real, bytes: s.size } : null;
  }

  /** Opens the recording for streaming; null when {@link locate} finds none. */
  async open(stored: string): Promise<OpenedRecording | null> {
    const found = await this.locate(stored);
    if (!found) return null;
    let handle;
    try {
      // O_NOFOLLOW: the checked path cannot be swapped for a link between the check and the open.
      handle = await open(found.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    try {
      // The size of what was opened, not of what was checked: Content-Length must match the body.
      const s = await handle.stat();
      if (!s.isFile()) {
        await handle.close();
        return null;
      }
      return { bytes: s.size, stream: handle.createReadStream() };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }
}

/** Where a call's recording is read from: by call id (database) or by the stored path (directory). */
export interface RecordingSource {
  locate(callId: string, stored: string): Promise<{ readonly bytes: number } | null>;
  open(callId: string, stored: string): Promise<OpenedRecording | null>;
}

/** The recordings in PostgreSQL, as the control-plane reads them. */
export interface StoredRecordings {
  size(callId: string): Promise<number | null>;
  open(callId: string): Promise<OpenedRecording | null>;
}

/**
 * Every place a recording can be: the database first (RECORDINGS_STORAGE=postgres on
 * the gateway that made it: any replica serves it), then RECORDINGS_DIR (local
 * storage, or a recording whose move to the database failed). Reading both, whatever
 * this replica's own setting, lets a deployment switch storage without losing the
 * recordings made before.
 */
export class RecordingLibrary implements RecordingSource {
  constructor(
    private readonly stored: StoredRecordings,
    private readonly files: RecordingFiles,
  ) {}

  async locate(callId: string, path: string): Promise<{ readonly bytes: number } | null> {
    const bytes = await this.stored.size(callId);
    return bytes !== null ? { bytes } : this.files.locate(path);
  }

  async open(callId: string, path: string): Promise<OpenedRecording | null> {
    return (await this.stored.open(callId)) ?? this.files.open(path);
  }
}
