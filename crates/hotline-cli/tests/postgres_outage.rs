//! Production mode losing its database: a `hotline serve` process on a PostgreSQL
//! cluster of the test's own, which the test stops mid-run and starts again.
//!
//! While the database is down every RPC that needs it fails fast with UNAVAILABLE
//! (no hang, no crash, no other code); the server process keeps running, and once
//! PostgreSQL is back it serves again without being restarted. A create retried with
//! its request id after the outage yields exactly one ticket, and nothing written
//! before the outage is lost.
//!
//! Needs the PostgreSQL server binaries (`.ci/services.sh` installs them and exports
//! `HOTLINE_PG_BIN`); skipped without them unless `HOTLINE_REQUIRE_SERVERS=1`.

mod support;

use std::time::{Duration, Instant};

use hotline_proto::v1::{self as pb, Role};
use pb::ticket_service_client::TicketServiceClient;
use support::{Authed, PgCluster, Server, admin_client, bearer, create_key};

/// Tickets written before the outage.
const BEFORE: usize = 20;
/// How long a call may take to fail while the database is down before it counts as a hang:
/// the store gives up on a connection after 5 s; the rest is slack for a busy machine.
const FAIL_FAST: Duration = Duration::from_secs(20);
/// How long the server may take to serve again once the database is back.
const RECOVERY: Duration = Duration::from_secs(60);

fn complaint(request_id: &str, n: usize) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: request_id.into(),
        channel: pb::Channel::Phone as i32,
        appeal_type: pb::AppealType::Complaint as i32,
        priority: pb::Priority::Normal as i32,
        citizen: Some(pb::Citizen {
            name: "李梅".into(),
            phone: "13700001111".into(),
            anonymous: false,
            confidential: false,
            wants_callback: true,
        }),
        title: format!("路灯不亮 {n}"),
        body: format!("平江路第{n}号路灯已经一周不亮了，晚上行人很不安全。"),
        address: "姑苏区平江路".into(),
        region_code: "320508".into(),
        category_hint: String::new(),
        latitude: None,
        longitude: None,
    }
}

/// Runs one call while the database is down: it must end within [`FAIL_FAST`] with
/// UNAVAILABLE. Returns how long it took.
async fn fails_fast<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, tonic::Status>>,
) -> Duration {
    let started = Instant::now();
    let outcome = tokio::time::timeout(FAIL_FAST, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {FAIL_FAST:?} with the database down"));
    let status = outcome.expect_err(what);
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{what} with the database down: {status:?}"
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_run_fails_fast_and_recovers_without_a_restart() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let mut server = Server::start(&["--database-url", &cluster.url(), "--log-level", "warn"]);
    let channel = server.channel().await;
    let mut admin = admin_client(channel.clone(), &server.admin_key());
    let operator = create_key(&mut admin, Role::Operator, "", "intake desk").await;
    let mut tickets: TicketServiceClient<Authed> =
        TicketServiceClient::with_interceptor(channel.clone(), bearer(&operator));

    let mut written = Vec::new();
    for n in 0..BEFORE {
        let ticket = tickets
            .create_ticket(complaint(&format!("before-{n}"), n))
            .await
            .expect("create before the outage")
            .into_inner()
            .ticket
            .expect("ticket");
        written.push(ticket.id);
    }

    cluster.stop();
    eprintln!("PostgreSQL stopped after {BEFORE} tickets");
    // A fresh credential look-up and every kind of call: a write, a read, a list, a timeline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let create = fails_fast(
        "CreateTicket",
        tickets.create_ticket(complaint("during-outage", BEFORE)),
    )
    .await;
    let get = fails_fast(
        "GetTicket",
        tickets.get_ticket(pb::GetTicketRequest {
            ticket_id: written[0].clone(),
        }),
    )
    .await;
    let list = fails_fast(
        "ListTickets",
        tickets.list_tickets(pb::ListTicketsRequest::default()),
    )
    .await;
    let timeline = fails_fast(
        "GetTimeline",
        tickets.get_timeline(pb::GetTimelineRequest {
            ticket_id: written[1].clone(),
        }),
    )
    .await;
    let keys = fails_fast(
        "ListApiKeys",
        admin.list_api_keys(pb::ListApiKeysRequest::default()),
    )
    .await;
    eprintln!(
        "with PostgreSQL down: CreateTicket {create:?}, GetTicket {get:?}, ListTickets {list:?}, \
         GetTimeline {timeline:?}, ListApiKeys {keys:?} — all UNAVAILABLE"
    );
    assert!(
        server.is_running(),
        "the server exited with the database down"
    );

    cluster.resume();
    let started = Instant::now();
    // The create that failed, retried with its request id until the server serves again.
    let retried = loop {
        match tickets
            .create_ticket(complaint("during-outage", BEFORE))
            .await
        {
            Ok(response) => break response.into_inner().ticket.expect("ticket"),
            Err(status) => {
                assert_eq!(
                    status.code(),
                    tonic::Code::Unavailable,
                    "while recovering: {status:?}"
                );
                assert!(
                    started.elapsed() < RECOVERY,
                    "not serving {RECOVERY:?} after PostgreSQL came back: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    eprintln!(
        "serving again {:?} after PostgreSQL came back",
        started.elapsed()
    );
    assert!(server.is_running());
    let again = tickets
        .create_ticket(complaint("during-outage", BEFORE))
        .await
        .expect("the same request id again")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(again.id, retried.id, "a retried create makes one ticket");

    for id in &written {
        let ticket = tickets
            .get_ticket(pb::GetTicketRequest {
                ticket_id: id.clone(),
            })
            .await
            .expect("a ticket written before the outage")
            .into_inner()
            .ticket
            .expect("ticket");
        assert_eq!(&ticket.id, id);
    }
    let mut listed = 0;
    let mut page_token = String::new();
    loop {
        let page = tickets
            .list_tickets(pb::ListTicketsRequest {
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list after recovery")
            .into_inner();
        listed += page.tickets.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        listed,
        BEFORE + 1,
        "every acknowledged ticket, and no other"
    );
}
