//! Smoke test: a real `App` on a temporary directory and port 0, driven through
//! real tonic clients. The full end-to-end suite lives in the workspace's
//! `tests/` package; this only proves the wiring: bootstrap key, auth, create
//! with auto-dispatch, scoping, PII masking, watch replay, health and shutdown.
//! Each story runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set
//! (in a schema of its own).

use std::net::SocketAddr;
use std::time::Duration;

use hotline_proto::v1 as pb;
use hotline_proto::v1::admin_service_client::AdminServiceClient;
use hotline_proto::v1::department_service_client::DepartmentServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_server::{App, ServerConfig};
use tokio::sync::oneshot;
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Wraps a message with the bearer key.
fn authed<T>(key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().expect("ascii metadata");
    request.metadata_mut().insert("authorization", value);
    request
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    admin_key: String,
    _dir: tempfile::TempDir,
    _schema: Option<PgSchema>,
}

/// A schema of its own in the database at `TEST_DATABASE_URL`, dropped with the guard.
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    /// Creates the schema, or returns `None` (the case skips) without a test server.
    async fn create() -> Option<PgSchema> {
        use sqlx::{Connection as _, Executor as _};
        if hotline_store::conformance::skipped(Some("TEST_DATABASE_URL")) {
            return None;
        }
        let base = std::env::var("TEST_DATABASE_URL").expect("checked above");
        let name = format!("hotline_smoke_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("test database");
        conn.execute(sqlx::AssertSqlSafe(format!("create schema {name}")))
            .await
            .expect("create schema");
        conn.close().await.expect("close");
        Some(PgSchema { base, name })
    }

    /// The database URL the server gets: the test database, confined to the schema.
    fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{separator}options[search_path]={}", self.base, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        use sqlx::{Connection as _, Executor as _};
        let (base, name) = (self.base.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&base).await?;
                conn.execute(sqlx::AssertSqlSafe(format!("drop schema {name} cascade")))
                    .await?;
                conn.close().await
            })
        });
        if !matches!(cleanup.join(), Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

async fn start() -> Server {
    start_on(None).await
}

/// Starts a server on PostgreSQL, migrated first as `hotline migrate` would.
async fn start_on_postgres(schema: PgSchema) -> Server {
    let url = schema.url();
    let config = ServerConfig {
        database_url: Some(url.clone()),
        ..ServerConfig::default()
    };
    hotline_server::migrate(&config).await.expect("migrate");
    let mut server = start_on(Some(url)).await;
    server._schema = Some(schema);
    server
}

async fn start_on(database_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    // PostgreSQL replicas share a key hash secret file; SQLite makes its own.
    let key_hash_secret_file = database_url.as_ref().map(|_| {
        let path = dir.path().join("shared-key-hash.secret");
        std::fs::write(&path, "0123456789abcdef".repeat(4)).expect("write the secret");
        path
    });
    let config = ServerConfig {
        data_dir: dir.path().to_path_buf(),
        database_url,
        key_hash_secret_file,
        ..ServerConfig::default()
    };
    let app = App::open(config).await.expect("app opens");
    let key_path = app
        .ensure_admin_key()
        .await
        .expect("bootstrap")
        .expect("first start writes a key");
    assert_eq!(app.ensure_admin_key().await.expect("second call"), None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let admin_key = std::fs::read_to_string(&key_path)
        .expect("key file")
        .trim_end()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        done,
        admin_key,
        _dir: dir,
        _schema: None,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

async fn new_key(
    admin: &mut AdminServiceClient<Channel>,
    key: &str,
    role: pb::Role,
    department: &str,
) -> String {
    admin
        .create_api_key(authed(
            key,
            pb::CreateApiKeyRequest {
                role: role.into(),
                department_id: department.to_owned(),
                name: format!("smoke {}", role.as_str_name()),
                expires_at: None,
            },
        ))
        .await
        .expect("key created")
        .into_inner()
        .key
}

#[tokio::test]
async fn create_scope_mask_watch_and_shut_down() {
    create_scope_mask_watch_and_shut_down_on(start().await).await;
}

#[tokio::test]
async fn create_scope_mask_watch_and_shut_down_on_postgres() {
    if let Some(schema) = PgSchema::create().await {
        create_scope_mask_watch_and_shut_down_on(start_on_postgres(schema).await).await;
    }
}

async fn create_scope_mask_watch_and_shut_down_on(mut server: Server) {
    let channel = channel(server.addr).await;
    let admin_key = server.admin_key.clone();

    let mut health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "hotline.v1.TicketService".to_owned(),
        })
        .await
        .expect("health needs no key")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut admin = AdminServiceClient::new(channel.clone());
    let mut tickets = TicketServiceClient::new(channel.clone());
    let mut departments = DepartmentServiceClient::new(channel.clone());

    let unauthenticated = tickets
        .get_ticket(Request::new(pb::GetTicketRequest {
            ticket_id: "x".to_owned(),
        }))
        .await
        .expect_err("no key");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    for (id, parent) in [("sz.env", ""), ("sz.env.gusu", "sz.env"), ("sz.water", "")] {
        admin
            .upsert_department(authed(
                &admin_key,
                pb::UpsertDepartmentRequest {
                    department: Some(pb::Department {
                        id: id.to_owned(),
                        name: id.to_owned(),
                        parent_id: parent.to_owned(),
                        region_code: String::new(),
                        level: 1,
                    }),
                },
            ))
            .await
            .expect("department upserted");
    }
    admin
        .put_routing_rules(authed(
            &admin_key,
            pb::PutRoutingRulesRequest {
                rules: vec![pb::RoutingRule {
                    category_prefix: "环境保护".to_owned(),
                    lead_department_id: "sz.env".to_owned(),
                    direct_dispatch: true,
                    ..Default::default()
                }],
            },
        ))
        .await
        .expect("rules stored");

    let operator = new_key(&mut admin, &admin_key, pb::Role::Operator, "").await;
    let env = new_key(&mut admin, &admin_key, pb::Role::Department, "sz.env").await;
    let water = new_key(&mut admin, &admin_key, pb::Role::Department, "sz.water").await;
    let supervisor = new_key(&mut admin, &admin_key, pb::Role::Supervisor, "").await;

    let denied = tickets
        .create_ticket(authed(&supervisor, pb::CreateTicketRequest::default()))
        .await
        .expect_err("supervisors do not take calls");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let request = pb::CreateTicketRequest {
        request_id: "smoke-1".to_owned(),
        channel: pb::Channel::Phone.into(),
        appeal_type: pb::AppealType::Complaint.into(),
        priority: pb::Priority::Normal.into(),
        citizen: Some(pb::Citizen {
            name: "张三".to_owned(),
            phone: "13812345678".to_owned(),
            wants_callback: true,
            ..Default::default()
        }),
        title: "夜间施工噪声".to_owned(),
        body: "工地每晚十一点后仍在施工".to_owned(),
        region_code: "320508".to_owned(),
        category_hint: "环境保护/噪声污染/施工噪声".to_owned(),
        ..Default::default()
    };
    let created = tickets
        .create_ticket(authed(&operator, request.clone()))
        .await
        .expect("created")
        .into_inner();
    assert!(created.created);
    let ticket = created.ticket.expect("ticket");
    assert_eq!(
        ticket.status,
        pb::TicketStatus::Dispatched as i32,
        "auto-dispatched by the rule"
    );
    assert_eq!(ticket.lead_department_id, "sz.env");
    assert!(ticket.number.starts_with("HL-"), "{}", ticket.number);
    assert_eq!(
        ticket.citizen.as_ref().map(|c| c.phone.as_str()),
        Some("13812345678")
    );

    let retry = tickets
        .create_ticket(authed(&operator, request))
        .await
        .expect("retry")
        .into_inner();
    assert!(!retry.created);
    assert_eq!(retry.ticket.expect("ticket").id, ticket.id);

    let get = |key: &str| {
        authed(
            key,
            pb::GetTicketRequest {
                ticket_id: ticket.id.clone(),
            },
        )
    };
    let seen = tickets
        .get_ticket(get(&env))
        .await
        .expect("lead department sees it")
        .into_inner();
    assert_eq!(seen.ticket.expect("ticket").id, ticket.id);
    let hidden = tickets
        .get_ticket(get(&water))
        .await
        .expect_err("other department");
    let unknown = tickets
        .get_ticket(authed(
            &water,
            pb::GetTicketRequest {
                ticket_id: uuid_like(),
            },
        ))
        .await
        .expect_err("unknown id");
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        hidden.message().replace(&ticket.id, "ID"),
        unknown.message().replace(&uuid_like(), "ID"),
        "an out-of-scope ticket looks like an unknown one"
    );
    let masked = tickets
        .get_ticket(get(&supervisor))
        .await
        .expect("supervisor")
        .into_inner();
    assert_eq!(
        masked.ticket.and_then(|t| t.citizen).map(|c| c.phone),
        Some("138****5678".to_owned())
    );

    let mut watch = departments
        .watch_assignments(authed(
            &env,
            pb::WatchAssignmentsRequest {
                department_id: String::new(),
                after_event_id: "0".to_owned(),
            },
        ))
        .await
        .expect("watch opens")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("replayed in time")
        .expect("stream open")
        .expect("notification");
    assert_eq!(first.kind, "DISPATCHED");
    assert_eq!(first.ticket_id, ticket.id);

    let signed = departments
        .sign_ticket(authed(
            &env,
            pb::SignTicketRequest {
                ticket_id: ticket.id.clone(),
                expected_version: Some(ticket.version),
                note: String::new(),
            },
        ))
        .await
        .expect("signed")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(signed.status, pb::TicketStatus::InProgress as i32);
    let stale = departments
        .sign_ticket(authed(
            &env,
            pb::SignTicketRequest {
                ticket_id: ticket.id.clone(),
                expected_version: Some(ticket.version),
                note: String::new(),
            },
        ))
        .await
        .expect_err("stale version");
    assert_eq!(stale.code(), Code::Aborted);

    server
        .stop
        .take()
        .expect("stop once")
        .send(())
        .expect("server running");
    let ended = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("watch ends on shutdown");
    assert!(matches!(ended, None | Some(Err(_))), "{ended:?}");
    tokio::time::timeout(Duration::from_secs(20), &mut server.done)
        .await
        .expect("drained in time")
        .expect("serve task")
        .expect("serve returns ok");
}

#[tokio::test]
async fn admin_and_supervision_rpcs_answer_on_real_data() {
    admin_and_supervision_rpcs_answer_on(start().await).await;
}

#[tokio::test]
async fn admin_and_supervision_rpcs_answer_on_postgres() {
    if let Some(schema) = PgSchema::create().await {
        admin_and_supervision_rpcs_answer_on(start_on_postgres(schema).await).await;
    }
}

async fn admin_and_supervision_rpcs_answer_on(mut server: Server) {
    use hotline_proto::v1::supervision_service_client::SupervisionServiceClient;

    let channel = channel(server.addr).await;
    let admin_key = server.admin_key.clone();
    let mut admin = AdminServiceClient::new(channel.clone());
    let mut supervision = SupervisionServiceClient::new(channel.clone());
    let mut tickets = TicketServiceClient::new(channel.clone());

    let policy = admin
        .get_deadline_policy(authed(&admin_key, pb::GetDeadlinePolicyRequest {}))
        .await
        .expect("default policy")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(policy.version, 0);
    let put = admin
        .put_deadline_policy(authed(
            &admin_key,
            pb::PutDeadlinePolicyRequest {
                policy: Some(pb::DeadlinePolicy {
                    max_returns: 5,
                    ..policy.clone()
                }),
                expected_version: Some(0),
            },
        ))
        .await
        .expect("policy stored")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!((put.version, put.max_returns), (1, 5));
    let stale = admin
        .put_deadline_policy(authed(
            &admin_key,
            pb::PutDeadlinePolicyRequest {
                policy: Some(policy),
                expected_version: Some(0),
            },
        ))
        .await
        .expect_err("stale policy version");
    assert_eq!(stale.code(), Code::Aborted);

    let calendar = admin
        .get_calendar(authed(&admin_key, pb::GetCalendarRequest {}))
        .await
        .expect("default calendar")
        .into_inner()
        .calendar
        .expect("calendar");
    assert_eq!(calendar.time_zone, "Asia/Shanghai");
    let bad = admin
        .put_calendar(authed(
            &admin_key,
            pb::PutCalendarRequest {
                calendar: Some(pb::Calendar {
                    time_zone: "Nowhere/City".to_owned(),
                    ..calendar
                }),
            },
        ))
        .await
        .expect_err("bad zone");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let reload = admin
        .reload_classifier(authed(&admin_key, pb::ReloadClassifierRequest::default()))
        .await
        .expect("answers")
        .into_inner();
    // No model configured: the keyword rules are reloaded and stay in force.
    assert!(reload.loaded, "{}", reload.message);
    assert_eq!((reload.model_version.as_str(), reload.labels), ("none", 0));

    let operator = new_key(&mut admin, &admin_key, pb::Role::Operator, "").await;
    let supervisor = new_key(&mut admin, &admin_key, pb::Role::Supervisor, "").await;
    for n in 0..3 {
        tickets
            .create_ticket(authed(
                &operator,
                pb::CreateTicketRequest {
                    channel: pb::Channel::Web.into(),
                    appeal_type: pb::AppealType::Complaint.into(),
                    priority: pb::Priority::Normal.into(),
                    citizen: Some(pb::Citizen::default()),
                    title: format!("餐饮油烟扰民 {n}"),
                    body: "楼下饭店油烟直排，窗户无法打开".to_owned(),
                    region_code: "320506001".to_owned(),
                    category_hint: "环境保护/大气污染/餐饮油烟".to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect("created");
    }
    let now = std::time::SystemTime::now();
    let hour_ago = prost_types::Timestamp::from(now - Duration::from_secs(3600));
    let in_an_hour = prost_types::Timestamp::from(now + Duration::from_secs(3600));
    let hotspots = supervision
        .list_hotspots(authed(
            &supervisor,
            pb::ListHotspotsRequest {
                window_start: Some(hour_ago),
                window_end: Some(in_an_hour),
                min_count: 3,
                region_level: 6,
            },
        ))
        .await
        .expect("hotspots")
        .into_inner()
        .hotspots;
    assert_eq!(hotspots.len(), 1);
    assert_eq!(
        (hotspots[0].count, hotspots[0].region_code.as_str()),
        (3, "320506")
    );
    let stats = supervision
        .get_department_stats(authed(
            &supervisor,
            pb::GetDepartmentStatsRequest {
                department_id: String::new(),
                period_start: Some(hour_ago),
                period_end: Some(in_an_hour),
            },
        ))
        .await
        .expect("stats")
        .into_inner()
        .stats;
    assert!(stats.is_empty(), "no departments yet");
    supervision
        .list_overdue(authed(&supervisor, pb::ListOverdueRequest::default()))
        .await
        .expect("overdue");
    supervision
        .list_due_soon(authed(&supervisor, pb::ListDueSoonRequest::default()))
        .await
        .expect("due soon");
    let similar = tickets
        .find_similar(authed(
            &supervisor,
            pb::FindSimilarRequest {
                title: "餐饮油烟扰民".to_owned(),
                body: "楼下饭店油烟直排，窗户无法打开".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .expect("similar")
        .into_inner()
        .candidates;
    assert_eq!(similar.len(), 3);

    server
        .stop
        .take()
        .expect("stop once")
        .send(())
        .expect("server running");
    tokio::time::timeout(Duration::from_secs(20), &mut server.done)
        .await
        .expect("drained in time")
        .expect("serve task")
        .expect("serve returns ok");
}

fn uuid_like() -> String {
    "01936f1e-0000-7000-8000-000000000000".to_owned()
}
