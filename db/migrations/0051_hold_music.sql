-- Music on hold per number: the name of a WAV file in the media gateways'
-- HOLD_MUSIC_DIR, played to a caller the gateway puts on hold (the API's or the AI's
-- hold). NULL: the tune the gateway generates. A bare file name only: the API checks
-- it, and the gateway checks it again and refuses any file outside the directory.
ALTER TABLE numbers ADD COLUMN hold_music VARCHAR(128) DEFAULT NULL,
    ADD CONSTRAINT numbers_hold_music_bare_name CHECK (hold_music ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,122}\.[Ww][Aa][Vv]$');
