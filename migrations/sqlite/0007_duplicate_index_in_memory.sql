-- Duplicate look-ups run on each server's in-memory index of recent tickets, filled
-- from `tickets` and `ticket_signatures` and kept current by following the event log
-- (`events.id`). The band-key rows cost every create sixteen random writes to two
-- indexes and are no longer written or read. `fingerprint_backlog` stays: it lists
-- tickets still waiting for their signature.
drop index ticket_fingerprints_category;
drop table ticket_fingerprints;
