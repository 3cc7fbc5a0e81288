-- hotline on postgresql: the statistics of each day, kept as they are written.
--
-- a period's department statistics summed every part handed over in it: at ten million
-- tickets a month holds some 280 k parts. now each change of a part also adds its net
-- change to one row per (department, utc day of hand-over, calendar), in the same
-- transaction, so a period sums a row per department and whole day, and reads parts only
-- for its ragged ends. values are the sums of the ticket_stats columns of that day
-- (hotline_store::stats::DayValues); the calendar identity is part of the key because
-- working times are summed only on the caller's calendar (calendar_known 0: unknown).
create table stats_days (
    department_id text collate "C" not null,
    day bigint not null,
    -- a department's day may be spread over a few rows, by the part's hand-over instant
    -- (hotline_store::stats::DayKey): four here, so that concurrent writers seldom wait on one row
    stripe bigint not null,
    calendar_known bigint not null,
    calendar bigint not null,
    parts bigint not null,
    returned bigint not null,
    signed bigint not null,
    signed_on_time bigint not null,
    sign_secs bigint not null,
    sign_nanos bigint not null,
    replied bigint not null,
    replied_on_time bigint not null,
    reply_secs bigint not null,
    reply_nanos bigint not null,
    callback bigint not null,
    resolved bigint not null,
    satisfied bigint not null,
    returns_approved bigint not null,
    returns_rejected bigint not null,
    return_pending bigint not null,
    extensions bigint not null,
    overdue_marked bigint not null,
    urged bigint not null,
    supervised bigint not null,
    timed bigint not null,
    primary key (department_id, day, stripe, calendar_known, calendar)
);

-- whether an overdue instant has passed depends on when the sums are read: the day rows
-- count every part with one, and the reader takes away those still to come, found here.
-- only open parts have an instant, so the index stays small; it holds what the count
-- reads, so the count reads nothing else.
create index ticket_stats_overdue_after on ticket_stats (overdue_after)
    include (department_id, assigned_at) where overdue_after is not null;

insert into stats_days (department_id, day, stripe, calendar_known, calendar, parts,
        returned, signed, signed_on_time, sign_secs, sign_nanos, replied, replied_on_time,
        reply_secs, reply_nanos, callback, resolved, satisfied, returns_approved,
        returns_rejected, return_pending, extensions, overdue_marked, urged, supervised, timed)
select department_id,
    -- the utc day, rounded down before 1970 too
    (assigned_at - ((assigned_at % 86400000000000) + 86400000000000) % 86400000000000) / 86400000000000,
    ((assigned_at % 4) + 4) % 4,
    case when calendar is null then 0 else 1 end, coalesce(calendar, 0),
    cast(count(*) as bigint),
    cast(sum(returned) as bigint),
    cast(count(signed_at) as bigint),
    cast(sum(signed_on_time) as bigint),
    cast(sum(sign_secs) as bigint),
    cast(sum(sign_nanos) as bigint),
    cast(count(replied_at) as bigint),
    cast(sum(replied_on_time) as bigint),
    cast(sum(reply_secs) as bigint),
    cast(sum(reply_nanos) as bigint),
    cast(sum(callback) as bigint),
    cast(sum(resolved) as bigint),
    cast(sum(satisfied) as bigint),
    cast(sum(returned * lead) as bigint),
    cast(sum(returns_rejected) as bigint),
    cast(sum(return_pending) as bigint),
    cast(sum(extensions) as bigint),
    cast(count(overdue_after) as bigint),
    cast(sum(urged) as bigint),
    cast(sum(supervised) as bigint),
    cast(sum(case when signed_at is not null or replied_at is not null then 1 else 0 end) as bigint)
from ticket_stats
    group by department_id,
    (assigned_at - ((assigned_at % 86400000000000) + 86400000000000) % 86400000000000) / 86400000000000,
    ((assigned_at % 4) + 4) % 4,
    case when calendar is null then 0 else 1 end, coalesce(calendar, 0);
