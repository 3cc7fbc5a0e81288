-- Duplicate look-ups run on each server's in-memory index of recent tickets, filled
-- from `tickets` and `ticket_signatures` and kept current by following the event log
-- (`events.id`, taken in commit order under the event-log lock). The band-key rows
-- cost every create sixteen random writes to two indexes and are no longer written
-- or read.
drop table ticket_fingerprints;
