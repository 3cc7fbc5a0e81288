-- hotline on sqlite: statistics rows for department statistics (三率).
--
-- one row per lead or delegated part of a ticket (hotline_core::stats_parts), rewritten with
-- the ticket in the transaction of every change. the primary key is the (department,
-- hand-over) order a period's sums walk, so they read the parts of the period and never a
-- projection. flags are 0 or 1; working times are whole seconds plus nanoseconds, computed
-- on the calendar whose identity `calendar` holds (null: unknown, computed again when read).
create table ticket_stats (
    department_id text not null,
    assigned_at integer not null,
    ticket_id text not null references tickets (id),
    position integer not null,
    lead integer not null,
    returned integer not null,
    signed_at integer,
    signed_on_time integer not null,
    sign_secs integer not null,
    sign_nanos integer not null,
    replied_at integer,
    replied_on_time integer not null,
    reply_secs integer not null,
    reply_nanos integer not null,
    -- the part is overdue once now passes this, while the ticket stays as it is
    overdue_after integer,
    returns_rejected integer not null,
    extensions integer not null,
    urged integer not null,
    supervised integer not null,
    callback integer not null,
    resolved integer not null,
    satisfied integer not null,
    return_pending integer not null,
    calendar integer,
    primary key (department_id, assigned_at, ticket_id, position)
) strict, without rowid;

-- rewriting a ticket's rows finds them by ticket.
create index ticket_stats_ticket on ticket_stats (ticket_id);

-- tickets with parts filed before this migration, to be given their rows when the store
-- opens (the rows are derived from the projection in rust). emptied as it goes.
create table stats_backlog (
    ticket_id text primary key references tickets (id)
) strict;

insert into stats_backlog (ticket_id)
    select distinct ticket_id from assignments where role in ('LEAD', 'DELEGATE');
