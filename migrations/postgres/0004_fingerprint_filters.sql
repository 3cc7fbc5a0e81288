-- hotline on postgresql: duplicate look-ups filter on the band-key rows alone.
--
-- a look-up wants the newest tickets under each of the probe's band keys in the probe's
-- region (a prefix of the region code, the district when a ticket is filed) and, when it
-- has one, the same category.
-- joining every band-key row to its ticket to test those made a look-up read every ticket
-- under a shared key (a stock phrase, a storm of one complaint); the rows now carry both
-- (fixed when the ticket is created), and a second index walks one category's rows
-- newest first.

-- a merged ticket is never a candidate: its keys go when it is merged.
delete from ticket_fingerprints
    where ticket_id in (select id from tickets where status = 'MERGED');

alter table ticket_fingerprints add column region_code text not null default '';
-- '' for a ticket without a category
alter table ticket_fingerprints add column category_path text not null default '';

update ticket_fingerprints f set
    region_code = t.region_code,
    category_path = coalesce(t.category_path, '')
from tickets t where t.id = f.ticket_id;

create index ticket_fingerprints_category
    on ticket_fingerprints (band_key, category_path, created_at desc) include (region_code, ticket_id);
