-- hotline on sqlite: the first schema.
--
-- every instant in an indexed column is integer nanoseconds since the unix epoch (utc),
-- saturated to the i64 range (years 1677..2262); the json documents keep the exact values.
-- tables are strict so a wrongly typed bind fails loudly instead of being stored as text.

-- the projection of each ticket's events, plus the columns listings filter and sort on.
create table tickets (
    id text primary key,
    -- human number {center}-{yyyymmdd}-{seq:06}
    number text not null unique,
    status text not null,
    -- optimistic-concurrency token: bumped by one per accepted command
    version integer not null,
    lead_department_id text,
    region_code text not null,
    category_path text,
    -- citizen phone and address, exactly as given: for duplicate detection
    phone text not null,
    address text not null,
    -- for the plain substring filter on title or body
    title text not null,
    body text not null,
    created_at integer not null,
    updated_at integer not null,
    -- the ticket's running deadline (sign, reply or callback): the durable timer the sweeper polls;
    -- null while there is none (pending dispatch, suspended, closed, merged)
    deadline_kind text,
    deadline_at integer,
    -- serde_json of the whole ticket
    projection text not null
) strict;

create index tickets_created on tickets (created_at desc, id desc);
create index tickets_status_created on tickets (status, created_at desc, id desc);
create index tickets_lead_created on tickets (lead_department_id, created_at desc, id desc);
create index tickets_region on tickets (region_code);
create index tickets_category on tickets (category_path);
create index tickets_phone on tickets (phone);
create index tickets_address on tickets (address);
create index tickets_deadline on tickets (deadline_at, id) where deadline_at is not null;
create index tickets_kind_deadline on tickets (deadline_kind, deadline_at, id)
    where deadline_at is not null;
create index tickets_lead_deadline on tickets (lead_department_id, deadline_at, id)
    where deadline_at is not null;

-- the append-only timeline; id is the global position watchers resume from.
create table events (
    id integer primary key autoincrement,
    ticket_id text not null references tickets (id),
    seq integer not null,
    version integer not null,
    at integer not null,
    action text not null,
    actor_id text not null,
    actor_role text not null,
    -- serde_json of the whole event
    event text not null,
    unique (ticket_id, seq)
) strict;

-- one row per assignment of the projection, rewritten with it: department scoping.
create table assignments (
    ticket_id text not null references tickets (id) on delete cascade,
    position integer not null,
    department_id text not null,
    role text not null,
    status text not null,
    primary key (ticket_id, position)
) strict;

create index assignments_department on assignments (department_id, ticket_id);

-- create_ticket idempotency keys.
create table idempotency (
    request_id text primary key,
    ticket_id text not null references tickets (id),
    created_at integer not null
) strict;

-- the last sequence number handed out per center and local day.
create table ticket_numbers (
    center text not null,
    day text not null,
    last_seq integer not null,
    primary key (center, day)
) strict;

create table departments (
    id text primary key,
    name text not null,
    parent_id text,
    region_code text not null,
    level integer not null
) strict;

-- versioned json documents: routing rules, deadline policy, calendar.
create table settings (
    key text primary key,
    value text not null,
    version integer not null,
    updated_at integer not null
) strict;

create table api_keys (
    id text primary key,
    name text not null,
    role text not null,
    department_id text,
    -- hex of the keyed hash of the secret; never the secret
    secret_hash text not null unique,
    created_at integer not null,
    expires_at integer,
    revoked_at integer
) strict;

create index api_keys_created on api_keys (created_at, id);
