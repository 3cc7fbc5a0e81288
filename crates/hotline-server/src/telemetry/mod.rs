//! Telemetry in one place: log lines on stderr (text or JSON, filtered like
//! `RUST_LOG`), and, when an OTLP endpoint is configured, traces and metrics
//! exported to an OpenTelemetry collector over gRPC.
//!
//! Spans: [`rpc::RpcLayer`] opens one per gRPC call, named `Service/Method`
//! and carrying the status code; the handlers' and the store's own spans nest
//! under it. Metrics: call counts and latency by method and code
//! ([`rpc::RpcMetrics`]) and the ticket gauges ([`gauges`]).
//!
//! Without an endpoint nothing is exported and no exporter is built: the
//! instruments record into OpenTelemetry's no-op meter.

pub mod gauges;
pub mod rpc;

use std::io::IsTerminal as _;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, ServerConfig};

/// Name of the service in exported telemetry (`service.name`).
pub const SERVICE_NAME: &str = "hotline";
/// Spans exported to the collector: hotline's own and its libraries' at INFO,
/// whatever the log filter says (logs and traces are filtered apart).
const TRACE_FILTER: &str = "info";
/// How long one export may take before it is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often metrics are pushed to the collector.
const METRICS_EXPORT_INTERVAL: Duration = Duration::from_secs(15);

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("log_level is not a log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// An OTLP exporter could not be built (e.g. a malformed endpoint).
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("logging is already set up: {0}")]
    Installed(#[from] tracing_subscriber::util::TryInitError),
}

/// The exporters of a running process. [`Telemetry::shutdown`] flushes what
/// is buffered; call it last, after the server has drained.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

/// Installs the global subscriber: logs per `config.log_format` and
/// `config.log_level` and, when `config.otlp_endpoint` is set, the OTLP trace
/// and metric exporters (the global meter provider). Must run inside a Tokio
/// runtime when an endpoint is set: the gRPC exporter lives on it.
///
/// # Errors
/// A bad filter or endpoint, or a subscriber already installed.
pub fn init(config: &ServerConfig) -> Result<Telemetry, TelemetryError> {
    let log_filter = EnvFilter::builder().parse(&config.log_level)?;
    let ansi = std::io::stderr().is_terminal();
    let logs = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let Some(endpoint) = config.otlp_endpoint.as_deref() else {
        tracing_subscriber::registry().with(logs).try_init()?;
        return Ok(Telemetry::default());
    };

    let resource = Resource::builder().with_service_name(SERVICE_NAME).build();
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let tracer = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.clone())
        .build();
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let meter = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(metrics)
                .with_interval(METRICS_EXPORT_INTERVAL)
                .build(),
        )
        .with_resource(resource)
        .build();
    opentelemetry::global::set_meter_provider(meter.clone());

    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer(SERVICE_NAME))
        .with_filter(EnvFilter::new(TRACE_FILTER));
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()?;
    tracing::info!(endpoint, "exporting traces and metrics over otlp");
    Ok(Telemetry {
        tracer: Some(tracer),
        meter: Some(meter),
    })
}

impl Telemetry {
    /// Whether traces and metrics are exported.
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }

    /// Exports what is buffered and stops the exporters. Blocks while the
    /// exports run: call it from `spawn_blocking` on a running runtime.
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(error) = tracer.shutdown()
        {
            tracing::warn!(error = %error, "trace export did not shut down cleanly");
        }
        if let Some(meter) = self.meter
            && let Err(error) = meter.shutdown()
        {
            tracing::warn!(error = %error, "metric export did not shut down cleanly");
        }
    }
}
