//! The node's log lines and, when configured, its traces: the `tracing` spans it already has
//! (a `request` span per request from [`crate::request_id`], a `job` span per training run, the
//! store's `db.*`, `store.*` and `queue.*` spans) exported by OpenTelemetry over OTLP/HTTP
//! (protobuf) to `--otlp-endpoint` or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL:
//! spans go to `{endpoint}/v1/traces`). Off unless configured.
//!
//! Each request is one trace (its `request` span is a root), and so is each training run. Every
//! span of a trace carries its root's `request_id` (or `job_id`) attribute ([`CarryIds`]), so a
//! database or store span is found from the id a user reports. The request span also gets
//! `http.request.method`, `http.route` (the template, never the path) and
//! `http.response.status_code`, and is named `{method} {route}`.
//!
//! The batch exporter's standard variables apply (`OTEL_BSP_SCHEDULE_DELAY`,
//! `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`, ...).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;

/// Targets whose spans and events stay out of the exported traces (the exporter's own).
const QUIET_IN_TRACES: [&str; 7] = [
    "opentelemetry=off",
    "opentelemetry_sdk=off",
    "opentelemetry_otlp=off",
    "opentelemetry_http=off",
    "reqwest=off",
    "hyper=off",
    "hyper_util=off",
];

/// The attributes a root span hands to every span of its trace.
const CARRIED: [&str; 2] = ["request_id", "job_id"];

/// The installed exporter; [`Telemetry::shutdown`] sends what is still buffered.
#[must_use = "dropping it without shutdown loses the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the buffered spans and stops the exporter (call outside the async runtime).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("telemetry: the last spans were not exported: {e}");
            }
        }
    }
}

/// Installs the process's `tracing` subscriber: log lines (filter `RUST_LOG`, default `info`),
/// and spans to OTLP/HTTP when `otlp_endpoint` is set. Call before the async runtime starts
/// (the exporter's HTTP client is a blocking one, on the batch processor's own thread).
///
/// # Errors
/// An endpoint that is not a URL. A subscriber already installed is kept (no error).
pub fn init(otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"))
    };
    let fmt = tracing_subscriber::fmt::layer();
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) else {
        let _ = tracing_subscriber::registry()
            .with(fmt.with_filter(filter()))
            .try_init();
        return Ok(Telemetry { provider: None });
    };
    let provider = provider(endpoint)?;
    let tracer = provider.tracer("more-node");
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false);
    // The exporter's own work (its HTTP client, its error events) is never exported itself.
    let mut otel_filter = filter();
    for quiet in QUIET_IN_TRACES {
        otel_filter = otel_filter.add_directive(quiet.parse()?);
    }
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel.with_filter(otel_filter))
        .try_init();
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The tracer provider exporting to `{endpoint}/v1/traces`.
fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .with_headers(HashMap::new())
        .build()
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("more-node");
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_span_processor(CarryIds::new(BatchSpanProcessor::builder(exporter).build()))
        .build())
}

/// Adds the request's method, route template and status to the current (`request`) span; a
/// no-op without an exporter.
pub fn annotate_request(method: &str, route: &str, status: u16) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    span.set_attribute("http.request.method", method.to_owned());
    span.set_attribute("http.route", route.to_owned());
    span.set_attribute("http.response.status_code", i64::from(status));
}

/// A span processor that copies a root span's `request_id` / `job_id` to every span of its
/// trace (the `request` span's `id` field counts as `request_id`), names request spans
/// `{method} {route}`, then hands the spans to `inner`.
#[derive(Debug)]
pub struct CarryIds<P> {
    inner: P,
    /// Per live trace: the root that set the ids, and the ids.
    roots: Mutex<HashMap<TraceId, (SpanId, Vec<KeyValue>)>>,
}

impl<P> CarryIds<P> {
    /// Wraps `inner`.
    pub fn new(inner: P) -> Self {
        CarryIds {
            inner,
            roots: Mutex::new(HashMap::new()),
        }
    }
}

/// The ids a span sets for its trace: its `request_id`/`job_id` attributes, and a `request`
/// span's `id` as `request_id`.
fn ids_of(data: &SpanData) -> Vec<KeyValue> {
    data.attributes
        .iter()
        .filter_map(|kv| {
            let key = kv.key.as_str();
            if CARRIED.contains(&key) {
                Some(kv.clone())
            } else if key == "id" && data.name == "request" {
                Some(KeyValue::new("request_id", kv.value.clone()))
            } else {
                None
            }
        })
        .collect()
}

impl<P: SpanProcessor> SpanProcessor for CarryIds<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        if let Some(data) = span.exported_data() {
            let trace = data.span_context.trace_id();
            let own = ids_of(&data);
            let mut roots = self.roots.lock().expect("telemetry lock");
            if !own.is_empty() {
                roots
                    .entry(trace)
                    .or_insert_with(|| (data.span_context.span_id(), own.clone()));
                if data.name == "request" {
                    span.set_attributes(own);
                }
            } else if let Some((_, ids)) = roots.get(&trace) {
                span.set_attributes(ids.clone());
            }
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        let trace = span.span_context.trace_id();
        {
            let mut roots = self.roots.lock().expect("telemetry lock");
            if roots
                .get(&trace)
                .is_some_and(|(root, _)| *root == span.span_context.span_id())
            {
                roots.remove(&trace);
            }
        }
        if span.name == "request" {
            let find = |key: &str| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.as_str().into_owned())
            };
            if let (Some(method), Some(route)) = (find("http.request.method"), find("http.route")) {
                span.name = format!("{method} {route}").into();
            }
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
