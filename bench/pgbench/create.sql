-- everything one CreateTicket writes, statement for statement: the idempotency
-- claim, the day's ticket-number counter (a row every create of the day locks),
-- the ticket, its signature, one assignment, the event-log lock
-- (held to commit) and the event.
\set region random(320500000, 320599999)
\set lead random(1, 40)
begin;
insert into idempotency (request_id, ticket_id, created_at)
    values (gen_random_uuid()::text, '00000000-0000-0000-0000-000000000000', 0)
    returning request_id \gset
insert into ticket_numbers (center, day, last_seq) values ('SZ', '20260302', 1)
    on conflict (center, day) do update set last_seq = ticket_numbers.last_seq + 1
    returning last_seq \gset
insert into tickets (id, number, status, version, lead_department_id, region_code,
    category_path, phone, address, title, body, created_at, updated_at, deadline_kind,
    deadline_at, warning_level, next_check_at, projection)
values (gen_random_uuid(), 'SZ-20260302-' || lpad(:last_seq::text, 9, '0'),
    'DISPATCHED', 1, 'seed.gusu.env' || :lead, :region::text, '环境保护/噪声污染/施工噪声',
    '138' || lpad((random() * 1e8)::bigint::text, 8, '0'), bench_text(40), bench_text(30),
    bench_text(300), (extract(epoch from clock_timestamp()) * 1e9)::bigint,
    (extract(epoch from clock_timestamp()) * 1e9)::bigint, 'SIGN',
    (extract(epoch from clock_timestamp()) * 1e9)::bigint + 86400000000000, 'NONE',
    (extract(epoch from clock_timestamp()) * 1e9)::bigint + 64800000000000, bench_text(2600))
returning id, created_at \gset
update idempotency set ticket_id = ':id' where request_id = ':request_id';
insert into ticket_signatures (ticket_id, signature)
    values (':id', decode(bench_text(1024), 'hex'));
insert into assignments (ticket_id, position, department_id, role, status)
    values (':id', 0, 'seed.gusu.env' || :lead, 'LEAD', 'PENDING_SIGN');
select id from event_append_lock for update;
insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, event,
    prev_hash, hash)
values (':id', 1, 1, (extract(epoch from clock_timestamp()) * 1e9)::bigint, 'CREATE',
    'bench-operator', 'OPERATOR', bench_text(1400), repeat('0', 64), md5(random()::text)
    || md5(random()::text));
commit;
