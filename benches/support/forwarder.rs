//! The bare forwarder: the generated FetchService trait implemented with nothing but a
//! reqwest GET (no validation, guard, slots or deadline), served by plain tonic. What it costs
//! is the price of chaining tonic and reqwest; what Fetch costs over it is streamgate's own
//! work. The fetch bench's ceiling, and, with a [`Tracer`], the tracing bench's: the same
//! forwarder making the spans streamgate makes with the OpenTelemetry SDK directly.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter as _, SpanProcessor,
};
use streamgate::proto::fetch_service_server::{FetchService, FetchServiceServer};
use streamgate::proto::{FetchRequest, FetchResponse, Header, ListPagesRequest, Page};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// Spans per export request, and the queue's bound: streamgate's own figures.
const BATCH: usize = 512;
const QUEUE: usize = 2048;

/// The forwarder on a free loopback port (TCP_NODELAY set, as streamgate sets it), on the
/// current runtime; with `tracer`, every call makes a SERVER and a CLIENT span.
pub async fn start(tracer: Option<SdkTracer>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let addr = listener.local_addr().expect("forwarder address");
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    });
    let forwarder = Forwarder {
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client"),
        tracer,
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FetchServiceServer::new(forwarder))
            .serve_with_incoming(incoming),
    );
    addr
}

/// A tracer whose spans go, in batches of 512 from a queue of 2,048 (streamgate's defaults),
/// over OTLP/gRPC to `endpoint`, sent by a task on the current runtime: streamgate's export
/// without `tracing` and `tracing-opentelemetry` in front of the SDK.
pub fn sdk_tracer(endpoint: &str, batch_delay: Duration) -> (SdkTracerProvider, SdkTracer) {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .expect("OTLP exporter");
    let resource = Resource::builder()
        .with_service_name("bare-forwarder")
        .build();
    exporter.set_resource(&resource);
    let (queue, mut spans) = mpsc::channel::<SpanData>(QUEUE);
    tokio::spawn(async move {
        while let Some(first) = spans.recv().await {
            let mut batch = Vec::with_capacity(BATCH);
            batch.push(first);
            let due = tokio::time::Instant::now() + batch_delay;
            while batch.len() < BATCH {
                tokio::select! {
                    s = spans.recv() => match s {
                        Some(s) => batch.push(s),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(due) => break,
                }
            }
            let _ = exporter.export(batch).await;
        }
    });
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Queued(queue))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("bare-forwarder");
    (provider, tracer)
}

/// Hands finished spans to the export task; a full queue drops them.
#[derive(Debug)]
struct Queued(mpsc::Sender<SpanData>);

impl SpanProcessor for Queued {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            let _ = self.0.try_send(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

struct Forwarder {
    client: reqwest::Client,
    tracer: Option<SdkTracer>,
}

type PageStream = Pin<Box<dyn futures::Stream<Item = Result<Page, Status>> + Send>>;

impl Forwarder {
    /// The upstream exchange; `traceparent` sent with it when given.
    async fn forward(
        &self,
        url: &str,
        traceparent: Option<String>,
    ) -> Result<FetchResponse, Status> {
        let unavailable = |e: reqwest::Error| Status::unavailable(e.to_string());
        let mut get = self.client.get(url);
        if let Some(tp) = traceparent {
            get = get.header("traceparent", tp);
        }
        let resp = get.send().await.map_err(unavailable)?;
        let status = u32::from(resp.status().as_u16());
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| Header {
                name: n.as_str().to_string(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        let url = resp.url().to_string();
        let body = resp.bytes().await.map_err(unavailable)?;
        Ok(FetchResponse {
            status,
            headers,
            body,
            url,
            elapsed: None,
            cache_status: String::new(),
        })
    }

    /// [`Forwarder::forward`] in a SERVER span (child of the caller's `traceparent`) and a
    /// CLIENT span whose context goes upstream, with the attributes streamgate gives them.
    async fn forward_traced(
        &self,
        tracer: &SdkTracer,
        req: &Request<FetchRequest>,
    ) -> Result<FetchResponse, Status> {
        let parent = req
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
            .map_or_else(Context::new, |sc| {
                Context::new().with_remote_span_context(sc)
            });
        let server = tracer
            .span_builder("streamgate.v1.FetchService/Fetch")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", "streamgate.v1.FetchService"),
                KeyValue::new("rpc.method", "Fetch"),
            ])
            .start_with_context(tracer, &parent);
        let cx = parent.with_span(server);
        let url = &req.get_ref().url;
        let parsed = url::Url::parse(url).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut client = tracer
            .span_builder("GET")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", url.clone()),
                KeyValue::new(
                    "server.address",
                    parsed.host_str().unwrap_or_default().to_owned(),
                ),
                KeyValue::new(
                    "server.port",
                    i64::from(parsed.port_or_known_default().unwrap_or(0)),
                ),
            ])
            .start_with_context(tracer, &cx);
        let sc = client.span_context().clone();
        let traceparent = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
        let out = self.forward(url, Some(traceparent)).await;
        if let Ok(resp) = &out {
            client.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(resp.status),
            ));
        }
        client.end();
        cx.span()
            .set_attribute(KeyValue::new("rpc.grpc.status_code", 0_i64));
        cx.span().end();
        out
    }
}

/// A W3C `traceparent` (version 00) as a remote span context.
fn parse_traceparent(v: &str) -> Option<SpanContext> {
    let mut parts = v.split('-');
    let (_, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

#[tonic::async_trait]
impl FetchService for Forwarder {
    async fn fetch(&self, req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let resp = match &self.tracer {
            Some(tracer) => self.forward_traced(tracer, &req).await?,
            None => self.forward(&req.get_ref().url, None).await?,
        };
        Ok(Response::new(resp))
    }

    type ListPagesStream = PageStream;

    async fn list_pages(
        &self,
        _: Request<ListPagesRequest>,
    ) -> Result<Response<PageStream>, Status> {
        Err(Status::unimplemented("the bare forwarder only fetches"))
    }
}
