-- hotline on postgresql: the first schema.
--
-- every instant in an indexed column is bigint nanoseconds since the unix epoch (utc),
-- saturated to the i64 range (years 1677..2262), exactly as on sqlite, so listings order,
-- compare and page identically on both backends; the json documents keep the exact values.
-- columns filtered by prefix ranges use the "c" collation: byte order, which is code point
-- order in utf-8, whatever the database's default collation.

-- the projection of each ticket's events, plus the columns listings filter and sort on.
create table tickets (
    id uuid primary key,
    -- human number {center}-{yyyymmdd}-{seq:06}
    number text not null unique,
    status text not null,
    -- optimistic-concurrency token: bumped by one per accepted command
    version bigint not null,
    lead_department_id text collate "C",
    region_code text collate "C" not null,
    category_path text collate "C",
    -- citizen phone and address, exactly as given: for duplicate detection
    phone text not null,
    address text not null,
    -- for the plain substring filter on title or body
    title text not null,
    body text not null,
    created_at bigint not null,
    updated_at bigint not null,
    -- the ticket's running deadline (sign, reply or callback); null while there is none
    -- (pending dispatch, suspended, closed, merged)
    deadline_kind text,
    deadline_at bigint,
    -- the warning light the sweeper last set, for overdue listings filtered by level
    warning_level text not null default 'NONE',
    -- the sweeper's durable timer: the first instant at which it would change the ticket;
    -- null when only a command can move it
    next_check_at bigint,
    -- serde_json of the whole ticket, kept verbatim (text, not jsonb: floats read back exact)
    projection text not null
);

create index tickets_created on tickets (created_at desc, id desc);
create index tickets_status_created on tickets (status, created_at desc, id desc);
create index tickets_lead_created on tickets (lead_department_id, created_at desc, id desc);
create index tickets_region on tickets (region_code);
create index tickets_category on tickets (category_path);
create index tickets_phone on tickets (phone);
create index tickets_address on tickets (address);
-- partial indexes: only open tickets have a running deadline or a timer, so these stay
-- small however many closed tickets accumulate.
create index tickets_deadline on tickets (deadline_at, id) where deadline_at is not null;
create index tickets_kind_deadline on tickets (deadline_kind, deadline_at, id)
    where deadline_at is not null;
create index tickets_lead_deadline on tickets (lead_department_id, deadline_at, id)
    where deadline_at is not null;
create index tickets_level_deadline on tickets (warning_level, deadline_at, id)
    where deadline_at is not null;
create index tickets_next_check on tickets (next_check_at, id) where next_check_at is not null;

-- the append-only timeline; id is the global position watchers resume from.
create table events (
    id bigint generated always as identity primary key,
    ticket_id uuid not null references tickets (id),
    seq bigint not null,
    version bigint not null,
    at bigint not null,
    action text not null,
    actor_id text not null,
    actor_role text not null,
    -- serde_json of the whole event
    event text not null,
    unique (ticket_id, seq)
);

-- one row, locked by every transaction that appends events, just before it does: event
-- ids are handed out in commit order, so a watcher resuming after id n never misses a
-- smaller id committed later.
create table event_append_lock (
    id boolean primary key default true check (id)
);
insert into event_append_lock (id) values (true);

-- one row per assignment of the projection, rewritten with it: department scoping.
create table assignments (
    ticket_id uuid not null references tickets (id) on delete cascade,
    position bigint not null,
    department_id text not null,
    role text not null,
    status text not null,
    primary key (ticket_id, position)
);

create index assignments_department on assignments (department_id, ticket_id);

-- create_ticket idempotency keys. the key is claimed first in the creating transaction,
-- before its ticket exists, hence the deferred foreign key.
create table idempotency (
    request_id text primary key,
    ticket_id uuid not null references tickets (id) deferrable initially deferred,
    created_at bigint not null
);

-- the last sequence number handed out per center and local day; the row lock serializes
-- concurrent creates of one day.
create table ticket_numbers (
    center text not null,
    day text not null,
    last_seq bigint not null,
    primary key (center, day)
);

create table departments (
    id text collate "C" primary key,
    name text not null,
    parent_id text,
    region_code text not null,
    level bigint not null
);

-- versioned json documents: routing rules, deadline policy, calendar.
create table settings (
    key text primary key,
    value text not null,
    version bigint not null,
    updated_at bigint not null
);

create table api_keys (
    id text collate "C" primary key,
    name text not null,
    role text not null,
    department_id text,
    -- hex of the keyed hash of the secret; never the secret
    secret_hash text not null unique,
    created_at bigint not null,
    expires_at bigint,
    revoked_at bigint
);

create index api_keys_created on api_keys (created_at, id);
