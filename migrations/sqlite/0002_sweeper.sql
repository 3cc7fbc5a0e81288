-- hotline on sqlite: the sweeper's durable timer and the warning light as columns.
--
-- next_check_at is the first instant at which the sweeper would change the ticket (the next
-- warning threshold of its running deadline, its callback deadline, or at once for a replied
-- ticket whose citizen wants no callback), integer nanoseconds like every indexed instant;
-- null when only a command can move the ticket. warning_level is the light the sweeper last
-- set, for overdue listings filtered by level. both are rewritten with the projection.

alter table tickets add column next_check_at integer;
alter table tickets add column warning_level text not null default 'NONE';

update tickets
set warning_level = coalesce(json_extract(projection, '$.warning_level'), 'NONE');

-- tickets written before this migration have no timer yet: every one the sweeper may have
-- to touch is due at once, and its first sweep computes its real next check.
update tickets
set next_check_at = updated_at
where status in ('DISPATCHED', 'IN_PROGRESS', 'REPLIED');

create index tickets_next_check on tickets (next_check_at, id) where next_check_at is not null;
create index tickets_level_deadline on tickets (warning_level, deadline_at, id)
    where deadline_at is not null;
