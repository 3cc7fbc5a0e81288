-- hotline on postgresql: the tamper-evident event log.
--
-- each event keeps its predecessor's hash and its own (hotline_store::chain::link: sha-256
-- over the predecessor hash and the event json), so `hotline audit verify` can name any
-- edited, removed or reordered event. events written before this migration are hashed when
-- the store opens (the same code computes every hash); until then the columns are null.
alter table events add column prev_hash text;
alter table events add column hash text;
