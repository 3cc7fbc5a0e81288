-- hotline on postgresql: statistics rows for department statistics (三率).
--
-- one row per lead or delegated part of a ticket (hotline_core::stats_parts), rewritten with
-- the ticket in the transaction of every change, indexed by (department, hand-over) so a
-- period's sums read the parts of the period and never a projection. flags are 0 or 1;
-- working times are whole seconds plus nanoseconds, computed on the calendar whose identity
-- `calendar` holds (null: unknown, computed again when read).
create table ticket_stats (
    ticket_id uuid not null references tickets (id),
    position bigint not null,
    department_id text collate "C" not null,
    assigned_at bigint not null,
    lead bigint not null,
    returned bigint not null,
    signed_at bigint,
    signed_on_time bigint not null,
    sign_secs bigint not null,
    sign_nanos bigint not null,
    replied_at bigint,
    replied_on_time bigint not null,
    reply_secs bigint not null,
    reply_nanos bigint not null,
    -- the part is overdue once now passes this, while the ticket stays as it is
    overdue_after bigint,
    returns_rejected bigint not null,
    extensions bigint not null,
    urged bigint not null,
    supervised bigint not null,
    callback bigint not null,
    resolved bigint not null,
    satisfied bigint not null,
    return_pending bigint not null,
    calendar bigint,
    primary key (ticket_id, position)
);

-- a period's sums: every column they read is in the index, so they scan it alone.
create index ticket_stats_department on ticket_stats (department_id, assigned_at)
    include (lead, returned, signed_at, signed_on_time, sign_secs, sign_nanos, replied_at,
        replied_on_time, reply_secs, reply_nanos, overdue_after, returns_rejected, extensions,
        urged, supervised, callback, resolved, satisfied, return_pending, calendar);

-- tickets with parts filed before this migration, to be given their rows when the store
-- opens (the rows are derived from the projection in rust). emptied as it goes.
create table stats_backlog (
    ticket_id uuid primary key references tickets (id)
);

insert into stats_backlog (ticket_id)
    select distinct ticket_id from assignments where role in ('LEAD', 'DELEGATE');
