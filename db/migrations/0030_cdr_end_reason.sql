-- Why a call between people (or through a trunk) ended, in its CDR: 'bye' when a
-- party hung up through the proxy; 'no_ack' when the answer was never acknowledged
-- through the proxy (the dialog then ends after the no-ACK timeout); 'no_bye' when an
-- acknowledged call ended without a BYE through the proxy (a party stopped answering
-- in-dialog keepalives, or the call reached its maximum length or was ended through
-- the API).
ALTER TABLE acc_cdrs ADD COLUMN end_reason VARCHAR(32) DEFAULT '' NOT NULL;
