//! Duplicate look-up cost against the number of stored tickets: the same probe
//! against a store of 1,000 and of 100,000 tickets, all inside the 30-day window.
//!
//! Tickets are loaded in a few large transactions straight into the tables (the
//! store's own create path fsyncs once per ticket, which would take minutes for
//! 100,000); each row, its projection, signature and band keys are what
//! `create_ticket` writes. Their texts are a title of 8 and a body of 120 random
//! characters of a 500-character alphabet, so unrelated tickets rarely share a
//! band key: the rows under the probe's keys stay the same at both sizes and the
//! figures show what the table size alone costs. The probe is the body of one
//! stored ticket reworded (every tenth character replaced), under a title of its
//! own.
//!
//! Cases, per size:
//! - `similar_candidates`: the store call alone;
//! - `duplicate look-up`: fingerprinting the probe text, the store call, and
//!   scoring the candidates, as the server does on every CreateTicket.
//!
//! Run with `cargo bench -p hotline-store-sqlite --bench similar`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hotline_core::similar::{SIMILAR_THRESHOLD, Signature};
use hotline_core::{TicketStatus, create_ticket};
use hotline_store::conformance::{World, appeal, days, new_id, operator, t0};
use hotline_store::{SimilarQuery, Store};
use hotline_store_sqlite::SqliteStore;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};
use tokio::runtime::Runtime;

/// Common characters of appeal texts.
const ALPHABET: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研具传众";
/// Characters per synthetic text.
const TEXT_CHARS: usize = 120;
/// Tickets per loading transaction.
const BATCH: usize = 5_000;

/// Deterministic pseudo-random numbers.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

fn random_text(alphabet: &[char], state: &mut u64) -> String {
    (0..TEXT_CHARS)
        .map(|_| alphabet[usize::try_from(next(state)).unwrap_or(0) % alphabet.len()])
        .collect()
}

/// Returns `text` with every tenth character replaced: another caller's wording.
fn reworded(text: &str, alphabet: &[char]) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 10 == 5 {
                alphabet[i % alphabet.len()]
            } else {
                c
            }
        })
        .collect()
}

/// Loads `count` pending tickets created over the 30 days before `t0()`; returns the
/// text and number of the middle one.
async fn load(path: &Path, count: usize) -> (String, String) {
    SqliteStore::open(path).await.expect("schema").close().await;
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.expect("connect");
    conn.execute("pragma synchronous = off")
        .await
        .expect("pragma");
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    let world = World::new();
    let actor = operator();
    let mut state = 7u64;
    let mut middle = (String::new(), String::new());
    let span = days(30).as_nanos() / i128::try_from(count).expect("small");
    for start in (0..count).step_by(BATCH) {
        let mut tx = conn.begin().await.expect("begin");
        for n in start..(start + BATCH).min(count) {
            let body = random_text(&alphabet, &mut state);
            let number = format!("SZ-{n:08}");
            if n == count / 2 {
                middle = (body.clone(), number.clone());
            }
            let back = span * i128::try_from(count - n).expect("small");
            let offset = jiff::SignedDuration::from_nanos(i64::try_from(back).expect("30 days"));
            let at = t0() - offset;
            let title: String = random_text(&alphabet, &mut state).chars().take(8).collect();
            let mut new = appeal(&title);
            new.body = body;
            let ticket = create_ticket(new_id(), &number, new, &world.ctx(&actor, at))
                .expect("valid")
                .ticket;
            assert_eq!(ticket.status, TicketStatus::PendingDispatch);
            let id = ticket.id.to_string();
            let created = i64::try_from(at.as_nanosecond()).expect("in range");
            sqlx::query(
                "insert into tickets (id, number, status, version, region_code, category_path, \
                 phone, address, title, body, created_at, updated_at, projection) \
                 values (?, ?, 'PENDING_DISPATCH', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(&number)
            .bind(&ticket.region_code)
            .bind(ticket.category.as_ref().map(|c| c.path.clone()))
            .bind(&ticket.citizen.phone)
            .bind(&ticket.address)
            .bind(&ticket.title)
            .bind(&ticket.body)
            .bind(created)
            .bind(created)
            .bind(serde_json::to_string(&ticket).expect("json"))
            .execute(&mut *tx)
            .await
            .expect("ticket row");
            let signature = Signature::of(&ticket.title, &ticket.body).expect("letters");
            sqlx::query("insert into ticket_signatures (ticket_id, signature) values (?, ?)")
                .bind(&id)
                .bind(signature.to_bytes())
                .execute(&mut *tx)
                .await
                .expect("signature row");
            for key in signature.band_keys() {
                sqlx::query(
                    "insert or ignore into ticket_fingerprints \
                     (band_key, created_at, ticket_id, region_code, category_path) \
                     values (?, ?, ?, ?, ?)",
                )
                .bind(key)
                .bind(created)
                .bind(&id)
                .bind(&ticket.region_code)
                .bind(ticket.category.as_ref().map_or("", |c| c.path.as_str()))
                .execute(&mut *tx)
                .await
                .expect("band row");
            }
        }
        tx.commit().await.expect("commit");
    }
    conn.close().await.expect("close");
    middle
}

fn bench_similar(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    let mut group = c.benchmark_group("duplicate look-up");
    for count in [1_000usize, 100_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hotline.db");
        let (original, original_number) = runtime.block_on(load(&path, count));
        let store = runtime.block_on(SqliteStore::open(&path)).expect("open");
        let probe_text = reworded(&original, &alphabet);
        let probe = Signature::of("市民诉求", &probe_text).expect("letters");
        let query = SimilarQuery {
            bands: probe.band_keys().to_vec(),
            since: Some(t0() - days(30)),
            limit: 100,
            ..SimilarQuery::default()
        };
        let found = runtime
            .block_on(store.similar_candidates(&query))
            .expect("look-up");
        assert!(
            found.iter().any(|c| c.number == original_number
                && probe.similarity(&c.signature) >= SIMILAR_THRESHOLD),
            "the rewording finds its original among {} candidates",
            found.len()
        );
        println!(
            "{count} tickets: {} candidates under the probe's keys",
            found.len()
        );
        group.bench_function(format!("similar_candidates, {count} tickets"), |b| {
            b.iter(|| runtime.block_on(store.similar_candidates(black_box(&query))))
        });
        group.bench_function(format!("duplicate look-up, {count} tickets"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let signature =
                        Signature::of("市民诉求", black_box(&probe_text)).expect("letters");
                    let query = SimilarQuery {
                        bands: signature.band_keys().to_vec(),
                        since: Some(t0() - days(30)),
                        limit: 100,
                        ..SimilarQuery::default()
                    };
                    let found = store.similar_candidates(&query).await.expect("look-up");
                    found
                        .iter()
                        .filter(|c| signature.similarity(&c.signature) >= SIMILAR_THRESHOLD)
                        .count()
                })
            })
        });
        runtime.block_on(store.close());
    }
    group.finish();
}

criterion_group!(benches, bench_similar);
criterion_main!(benches);
