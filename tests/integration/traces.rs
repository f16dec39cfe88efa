//! OpenTelemetry traces from a real `relledger serve --otlp-endpoint` to a collector in this
//! test (a tonic server of OTLP's trace service): an append's spans arrive in the trace its
//! caller sent in `traceparent`, under the caller's span.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{AppendRequest, ReadAllRequest, RecordedEvent};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::common::binary::spawn_serve;
use crate::common::events::opening;
use crate::common::read_all;

/// Hands every exported span to the test.
struct Collector(mpsc::UnboundedSender<Span>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let _ = self.0.send(span);
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_traced_under_its_callers_span() {
    let (spans_tx, mut spans) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(spans_tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = spawn_serve(|serve| {
        serve
            .args(["--listen", "127.0.0.1:0", "--otlp-endpoint", &collector])
            .arg("--data-dir")
            .arg(dir.path())
            // Export within a tenth of a second rather than the default five.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    })
    .await;

    let mut client = LedgerClient::connect(url).await.unwrap();
    // Without ids of their own (a client's `correlation_id` would be kept).
    let mut events = opening("Acme");
    events.iter_mut().for_each(|e| e.metadata.clear());
    let traced_append = |trace: &str, span: &str| {
        let mut append = Request::new(AppendRequest {
            account_id: "acme".into(),
            expected_revision: None,
            events: events.clone(),
        });
        let traceparent = format!("00-{trace}-{span}-01").parse().unwrap();
        append.metadata_mut().insert("traceparent", traceparent);
        append
    };
    client
        .append(traced_append(TRACE_ID, CALLER_SPAN))
        .await
        .unwrap();

    // The RPC's span, child of the caller's, and the handler's, child of the RPC's, both in
    // the caller's trace.
    let mut rpc = None;
    let mut handler = None;
    while rpc.is_none() || handler.is_none() {
        let span = tokio::time::timeout(std::time::Duration::from_secs(30), spans.recv())
            .await
            .expect("spans within 30 s")
            .expect("the collector runs");
        if hex::encode(&span.trace_id) != TRACE_ID {
            continue;
        }
        match span.name.as_str() {
            "rpc" => rpc = Some(span),
            "Ledger.Append" => handler = Some(span),
            _ => {}
        }
    }
    let (rpc, handler) = (rpc.unwrap(), handler.unwrap());
    assert_eq!(hex::encode(&rpc.parent_span_id), CALLER_SPAN);
    assert_eq!(handler.parent_span_id, rpc.span_id);

    // The events record the trace and the caller's span that appended them.
    let traced = |events: &[RecordedEvent]| -> Vec<(String, String)> {
        events
            .iter()
            .map(|r| {
                let metadata = &r.event.as_ref().unwrap().metadata;
                (
                    metadata.get("correlation_id").cloned().unwrap_or_default(),
                    metadata.get("causation_id").cloned().unwrap_or_default(),
                )
            })
            .collect()
    };
    let read = read_all(&mut client, ReadAllRequest::default())
        .await
        .unwrap();
    let first = (TRACE_ID.to_string(), CALLER_SPAN.to_string());
    assert_eq!(traced(&read), [first.clone(), first.clone()]);

    // The same append retried in another trace is the same append: a duplicate, not a reuse
    // of its event ids for other content; what is stored still names the first trace.
    let retry = traced_append("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let retried = client.append(retry).await.unwrap().into_inner();
    assert!(retried.duplicate);
    let read = read_all(&mut client, ReadAllRequest::default())
        .await
        .unwrap();
    assert_eq!(traced(&read), [first.clone(), first]);
}
