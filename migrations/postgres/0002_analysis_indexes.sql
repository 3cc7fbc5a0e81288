-- hotline on postgresql: indexes for duplicate detection and hotspots.
--
-- each ticket's text fingerprint (hotline_core::similar) is written in the transaction that
-- creates the ticket: its minhash signature, and one row per lsh band key. a duplicate
-- look-up reads the rows under the probe's band keys within the window, so its cost follows
-- the number of matching rows, never the number of tickets.

-- the signature of each ticket's title and body (little-endian u32 minimums); null when the
-- text has no letter or digit to compare.
create table ticket_signatures (
    ticket_id uuid primary key references tickets (id),
    signature bytea
);

-- one row per (band key, ticket): the lsh index, walked newest first.
create table ticket_fingerprints (
    band_key bigint not null,
    created_at bigint not null,
    ticket_id uuid not null references tickets (id),
    primary key (band_key, created_at, ticket_id)
);

-- same-phone and same-address look-ups within a window, newest first.
drop index tickets_phone;
drop index tickets_address;
create index tickets_phone_created on tickets (phone, created_at desc, id desc);
create index tickets_address_created on tickets (address, created_at desc, id desc);

-- hotspot counts: a range of creation times, grouped, read from the index alone.
create index tickets_created_group on tickets (created_at, category_path, region_code, status);
