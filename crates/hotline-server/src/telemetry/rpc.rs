//! A tower layer around every gRPC service: one span per call, named
//! `Service/Method` with the gRPC status code, and the call count and latency
//! by service, method and code.
//!
//! The code is read from the response headers: tonic puts it there when a
//! call fails before any message (every unary error). A call that answers and
//! then fails mid-stream carries its code in the trailers, which this layer does
//! not wait for: it counts as OK, and its latency is the time to the first
//! response headers.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use tonic::codegen::BoxFuture;
use tonic::codegen::http::{Request, Response};
use tracing::Instrument as _;
use tracing::field::Empty;

/// Services whose names may appear as metric labels; any other path is
/// `unknown`, so a client cannot mint new time series by calling made-up names.
const KNOWN_SERVICES: &[&str] = &[
    "hotline.v1.TicketService",
    "hotline.v1.DepartmentService",
    "hotline.v1.SupervisionService",
    "hotline.v1.AdminService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
];
/// `UNIMPLEMENTED`: the method does not exist, so its name is not a label either.
const UNIMPLEMENTED: i64 = 12;
/// `UNKNOWN`: what a transport error counts as.
const UNKNOWN: i64 = 2;

/// The call instruments.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    calls: Counter<u64>,
    duration: Histogram<f64>,
}

impl RpcMetrics {
    /// Creates the instruments on `meter` (the global one in the server).
    pub fn new(meter: &Meter) -> Self {
        Self {
            calls: meter
                .u64_counter("hotline.rpc.calls")
                .with_description("gRPC calls served, by service, method and status code")
                .build(),
            duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_unit("s")
                .with_description("Time to answer a gRPC call, by service, method and status code")
                .with_boundaries(vec![
                    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0, 30.0,
                ])
                .build(),
        }
    }

    /// Records one call.
    pub fn record(&self, call: &CallName, code: i64, seconds: f64) {
        let known = code != UNIMPLEMENTED && call.known;
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new(
                "rpc.service",
                if call.known {
                    call.service.clone()
                } else {
                    "unknown".to_owned()
                },
            ),
            KeyValue::new(
                "rpc.method",
                if known {
                    call.method.clone()
                } else {
                    "unknown".to_owned()
                },
            ),
            KeyValue::new("rpc.grpc.status_code", code),
        ];
        self.calls.add(1, &attributes);
        self.duration.record(seconds, &attributes);
    }
}

/// A call's service and method, from its path `/package.Service/Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallName {
    /// `hotline.v1.TicketService`.
    pub service: String,
    /// `CreateTicket`.
    pub method: String,
    /// Whether the service is one this server serves.
    pub known: bool,
}

impl CallName {
    /// Splits a request path; anything not shaped like a gRPC path is `unknown`.
    pub fn of_path(path: &str) -> Self {
        let parts = path.strip_prefix('/').and_then(|p| p.split_once('/'));
        match parts {
            Some((service, method)) if !service.is_empty() && !method.is_empty() => Self {
                known: KNOWN_SERVICES.contains(&service),
                service: service.to_owned(),
                method: method.to_owned(),
            },
            _ => Self {
                service: "unknown".to_owned(),
                method: "unknown".to_owned(),
                known: false,
            },
        }
    }

    /// The span name: the service's short name and the method, `TicketService/CreateTicket`.
    fn span_name(&self) -> String {
        let short = self.service.rsplit('.').next().unwrap_or(&self.service);
        format!("{short}/{}", self.method)
    }
}

/// Returns the gRPC status code of a response whose headers carry one, else OK.
pub fn status_code<B>(response: &Response<B>) -> i64 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// gRPC's code for a request over the size limit is RESOURCE_EXHAUSTED; tonic
/// answers OUT_OF_RANGE with a message of its own. Rewrites that answer.
fn oversized_is_resource_exhausted<B>(response: &mut Response<B>) {
    const OUT_OF_RANGE: &str = "11";
    const RESOURCE_EXHAUSTED: &str = "8";
    let headers = response.headers_mut();
    let oversized = headers
        .get("grpc-status")
        .is_some_and(|v| v == OUT_OF_RANGE)
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.contains("decoded") && m.contains("too") && m.contains("large"));
    if oversized {
        headers.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from_static(RESOURCE_EXHAUSTED),
        );
        headers.insert(
            "grpc-message",
            tonic::codegen::http::HeaderValue::from_static(
                "request%20too%20large%3A%20requests%20are%20limited%20to%201%20MiB",
            ),
        );
    }
}

/// Wraps services in [`RpcService`].
#[derive(Debug, Clone)]
pub struct RpcLayer {
    metrics: Arc<RpcMetrics>,
}

impl RpcLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: RpcMetrics) -> Self {
        Self {
            metrics: Arc::new(metrics),
        }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// Traces and measures each call of the inner service.
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

impl<S, B, R> tower::Service<Request<B>> for RpcService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let call = CallName::of_path(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            otel.name = %call.span_name(),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %call.service,
            rpc.method = %call.method,
            rpc.grpc.status_code = Empty,
        );
        let started = Instant::now();
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = Arc::clone(&self.metrics);
        Box::pin(
            async move {
                let mut result = future.await;
                if let Ok(response) = &mut result {
                    oversized_is_resource_exhausted(response);
                }
                let code = match &result {
                    Ok(response) => status_code(response),
                    Err(_) => UNKNOWN,
                };
                let span = tracing::Span::current();
                span.record("rpc.grpc.status_code", code);
                if code != 0 {
                    span.record("otel.status_code", "ERROR");
                }
                metrics.record(&call, code, started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        let call = CallName::of_path("/hotline.v1.TicketService/CreateTicket");
        assert_eq!(call.service, "hotline.v1.TicketService");
        assert_eq!(call.method, "CreateTicket");
        assert!(call.known);
        assert_eq!(call.span_name(), "TicketService/CreateTicket");
        let made_up = CallName::of_path("/evil.Service/x");
        assert!(!made_up.known);
        for junk in ["", "/", "//", "/only-service", "/svc/"] {
            assert_eq!(CallName::of_path(junk).method, "unknown", "{junk:?}");
        }
    }

    #[test]
    fn codes_come_from_the_grpc_status_header() {
        let error = Response::builder()
            .header("grpc-status", "5")
            .body(())
            .expect("a valid response");
        assert_eq!(status_code(&error), 5);
        let ok = Response::builder().body(()).expect("a valid response");
        assert_eq!(status_code(&ok), 0);
    }
}
