//! OTLP export, end to end: a stub OpenTelemetry collector (the OTLP
//! `TraceService` and `MetricsService` over gRPC) receives what a real server
//! exports while it answers real calls. One test per binary: telemetry installs
//! the process-wide subscriber and meter provider.

use std::sync::{Arc, Mutex};

use hotline_proto::v1 as pb;
use hotline_proto::v1::admin_service_client::AdminServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_server::{App, ServerConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};

/// What the stub collector received.
#[derive(Debug, Default, Clone)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().expect("not poisoned").extend(spans);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics
            .lock()
            .expect("not poisoned")
            .push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Returns an attribute as text.
fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn authed<T>(key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().expect("ascii metadata");
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_arrive_at_the_collector_as_spans_and_metrics() {
    // The stub collector.
    let received = Received::default();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the collector");
    let collector_addr = collector.local_addr().expect("addr");
    let (stop_collector, collector_stopped) = oneshot::channel::<()>();
    let collector_task = tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(received.clone()))
            .add_service(MetricsServiceServer::new(received.clone()))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(collector),
                async {
                    let _ = collector_stopped.await;
                },
            ),
    );

    // The server, exporting to it.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        data_dir: dir.path().to_path_buf(),
        otlp_endpoint: Some(format!("http://{collector_addr}")),
        log_level: "warn".to_owned(),
        ..ServerConfig::default()
    };
    let telemetry = hotline_server::telemetry::init(&config).expect("telemetry starts");
    assert!(telemetry.exporting());
    let app = App::open(config).await.expect("app opens");
    let key_path = app
        .ensure_admin_key()
        .await
        .expect("bootstrap")
        .expect("a new key");
    let admin_key = std::fs::read_to_string(key_path).expect("key file");
    let admin_key = admin_key.trim_end();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut admin = AdminServiceClient::new(channel.clone());
    admin
        .list_departments(authed(admin_key, pb::ListDepartmentsRequest {}))
        .await
        .expect("an administrator lists departments");
    let mut tickets = TicketServiceClient::new(channel);
    let unknown = tickets
        .get_ticket(authed(
            admin_key,
            pb::GetTicketRequest {
                ticket_id: "01890a5d-ac96-774b-bcce-b302099a8057".to_owned(),
            },
        ))
        .await
        .expect_err("no such ticket");
    assert_ne!(unknown.code(), Code::Ok);
    let unknown_code = unknown.code() as i32;

    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("telemetry flushes");
    let _ = stop_collector.send(());
    collector_task
        .await
        .expect("collector task")
        .expect("collector stops");

    // Spans: one per call, named Service/Method with its code, with the
    // handler's and the store's spans under it in the same trace.
    let spans = received.spans.lock().expect("not poisoned").clone();
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
                panic!("no span {name}; got {names:?}")
            })
            .clone()
    };
    let list = by_name("AdminService/ListDepartments");
    assert_eq!(
        attr(&list.attributes, "rpc.method").as_deref(),
        Some("ListDepartments")
    );
    assert_eq!(
        attr(&list.attributes, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert!(list.parent_span_id.is_empty(), "the call span is the root");
    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == list.trace_id && s.parent_span_id == list.span_id)
        .collect();
    assert!(
        !children.is_empty(),
        "the handler's span nests under the call's"
    );
    let store_span = spans
        .iter()
        .any(|s| s.trace_id == list.trace_id && s.name == "list_departments");
    assert!(store_span, "the store call is in the call's trace");
    let get = by_name("TicketService/GetTicket");
    assert_eq!(
        attr(&get.attributes, "rpc.grpc.status_code"),
        Some(unknown_code.to_string())
    );

    // Metrics: the call counter by method and code, the latency histogram and
    // the ticket gauges.
    let batches = received.metrics.lock().expect("not poisoned").clone();
    let metrics: Vec<_> = batches
        .iter()
        .flat_map(|b| &b.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    // (The overdue gauge has no series without departments; tests/sweeper.rs
    // checks its counts.)
    for expected in [
        "hotline.rpc.calls",
        "rpc.server.call.duration",
        "hotline.tickets",
        "hotline.sweeper.lag",
    ] {
        assert!(names.contains(&expected), "no {expected} in {names:?}");
    }
    let calls = metrics
        .iter()
        .rev()
        .find(|m| m.name == "hotline.rpc.calls")
        .and_then(|m| match &m.data {
            Some(Data::Sum(sum)) => Some(sum.data_points.clone()),
            _ => None,
        })
        .expect("the call counter is a sum");
    let count = |method: &str, code: i32| {
        calls
            .iter()
            .find(|p| {
                attr(&p.attributes, "rpc.method").as_deref() == Some(method)
                    && attr(&p.attributes, "rpc.grpc.status_code") == Some(code.to_string())
            })
            .and_then(|p| match p.value {
                Some(Number::AsInt(n)) => Some(n),
                _ => None,
            })
    };
    assert_eq!(count("ListDepartments", 0), Some(1));
    assert_eq!(count("GetTicket", unknown_code), Some(1));
    assert_eq!(
        count("GetTicket", 0),
        None,
        "the failed call is not counted as OK"
    );
}
