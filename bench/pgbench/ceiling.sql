-- the two rows every CreateTicket writes: the ticket (with all its indexes) and
-- its first event. one transaction, committed with synchronous_commit on.
\set region random(320500000, 320599999)
\set lead random(1, 40)
begin;
insert into tickets (id, number, status, version, lead_department_id, region_code,
    category_path, phone, address, title, body, created_at, updated_at, deadline_kind,
    deadline_at, warning_level, next_check_at, projection)
values (gen_random_uuid(), 'SZ-20260302-' || lpad(nextval('bench_number')::text, 9, '0'),
    'DISPATCHED', 1, 'seed.gusu.env' || :lead, :region::text, '环境保护/噪声污染/施工噪声',
    '138' || lpad((random() * 1e8)::bigint::text, 8, '0'), bench_text(40), bench_text(30),
    bench_text(300), (extract(epoch from clock_timestamp()) * 1e9)::bigint,
    (extract(epoch from clock_timestamp()) * 1e9)::bigint, 'SIGN',
    (extract(epoch from clock_timestamp()) * 1e9)::bigint + 86400000000000, 'NONE',
    (extract(epoch from clock_timestamp()) * 1e9)::bigint + 64800000000000, bench_text(2600))
returning id \gset
insert into events (ticket_id, seq, version, at, action, actor_id, actor_role, event,
    prev_hash, hash)
values (':id', 1, 1, (extract(epoch from clock_timestamp()) * 1e9)::bigint, 'CREATE',
    'bench-operator', 'OPERATOR', bench_text(1400), repeat('0', 64), md5(random()::text)
    || md5(random()::text));
commit;
