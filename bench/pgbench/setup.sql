-- helpers for ceiling.sql and create.sql, created in the scratch database after
-- `hotline migrate` has made the real tables and indexes.

-- ticket numbers for the two-row script (the real create takes them from
-- ticket_numbers; create.sql does).
create sequence if not exists bench_number;

-- text that compresses about as well as hotline's json documents (hex digests,
-- not one repeated character, which toast would shrink to nothing).
create or replace function bench_text(len integer) returns text
language sql volatile as $$
    select left(string_agg(md5(random()::text), ''), len)
    from generate_series(1, (len + 31) / 32)
$$;
