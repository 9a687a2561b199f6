/**
 * A number's music on hold is named by a bare WAV file name (numbers.hold_music):
 * letters, digits, '.', '_' and '-', no path separator, no leading dot, ending in
 * .wav. The API refuses anything else (400), db/migrations/0051_hold_music.sql holds
 * the same rule as a CHECK, and the media gateway checks it again before it opens
 * anything under HOLD_MUSIC_DIR.
 */
export const HOLD_MUSIC_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,122}\\.[Ww][Aa][Vv]$';
