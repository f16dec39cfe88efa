//! The commands against a fake ledger on an ephemeral port, and their argument parsing.

use std::sync::{Arc, Mutex};

use clap::Parser;
use futures::stream::{self, BoxStream, StreamExt};
use tonic::{Request, Response, Status};

use super::append::{append_to, parse_expected};
use super::read::read_to;
use super::*;
use crate::api::proto;
use crate::api::proto::ledger_server::{Ledger, LedgerServer};
use crate::store::ExpectedRevision;

/// A ledger that records the requests it gets and answers from a script:
/// the account `refused` is ABORTED, `missing` is NOT_FOUND, and `broken` fails midway.
#[derive(Clone, Default)]
struct FakeLedger {
    /// Every append request received.
    appends: Arc<Mutex<Vec<proto::AppendRequest>>>,
    /// Every read-stream request received.
    stream_reads: Arc<Mutex<Vec<proto::ReadStreamRequest>>>,
    /// Every read-all request received.
    all_reads: Arc<Mutex<Vec<proto::ReadAllRequest>>>,
}

/// A recorded event whose position tells it apart.
fn recorded(position: u64) -> proto::RecordedEvent {
    proto::RecordedEvent {
        account_id: "acme".into(),
        position,
        revision: position,
        event_type: "call".into(),
        hash: vec![0xff; 32],
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Ledger for FakeLedger {
    async fn append(
        &self,
        request: Request<proto::AppendRequest>,
    ) -> Result<Response<proto::AppendResponse>, Status> {
        let request = request.into_inner();
        let n = request.events.len() as u64;
        let refused = request.account_id == "refused";
        self.appends.lock().unwrap().push(request);
        if refused {
            return Err(Status::aborted(
                "expected no stream, but the stream is at revision 3",
            ));
        }
        Ok(Response::new(proto::AppendResponse {
            first_revision: 0,
            last_revision: n - 1,
            first_position: 10,
            last_position: 10 + n - 1,
            duplicate: false,
        }))
    }

    async fn forget_contact(
        &self,
        _request: Request<proto::ForgetContactRequest>,
    ) -> Result<Response<proto::ForgetContactResponse>, Status> {
        Err(Status::unimplemented(
            "the CLI tests never forget a contact",
        ))
    }

    type ReadStreamStream = BoxStream<'static, Result<proto::RecordedEvent, Status>>;

    async fn read_stream(
        &self,
        request: Request<proto::ReadStreamRequest>,
    ) -> Result<Response<Self::ReadStreamStream>, Status> {
        let request = request.into_inner();
        let account = request.account_id.clone();
        self.stream_reads.lock().unwrap().push(request);
        let mut items = vec![Ok(recorded(0)), Ok(recorded(1))];
        match account.as_str() {
            "missing" => return Err(Status::not_found("account missing has no events")),
            "broken" => items.push(Err(Status::data_loss("record 2 does not decode"))),
            _ => {}
        }
        Ok(Response::new(stream::iter(items).boxed()))
    }

    type ReadAllStream = BoxStream<'static, Result<proto::RecordedEvent, Status>>;

    async fn read_all(
        &self,
        request: Request<proto::ReadAllRequest>,
    ) -> Result<Response<Self::ReadAllStream>, Status> {
        self.all_reads.lock().unwrap().push(request.into_inner());
        let items = (0..3).map(|p| Ok(recorded(p)));
        Ok(Response::new(stream::iter(items).boxed()))
    }

    // The CLI has no subscription commands; the fake answers as a server without them would.
    type SubscribeStream = BoxStream<'static, Result<proto::SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        _request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented(
            "the fake ledger has no subscriptions",
        ))
    }

    async fn ack_subscription(
        &self,
        _request: Request<proto::AckSubscriptionRequest>,
    ) -> Result<Response<proto::AckSubscriptionResponse>, Status> {
        Err(Status::unimplemented(
            "the fake ledger has no subscriptions",
        ))
    }

    async fn list_subscriptions(
        &self,
        _request: Request<proto::ListSubscriptionsRequest>,
    ) -> Result<Response<proto::ListSubscriptionsResponse>, Status> {
        Err(Status::unimplemented(
            "the fake ledger has no subscriptions",
        ))
    }
}

/// Serves `ledger` on an ephemeral port for the rest of the test; returns its URL.
async fn serve(ledger: FakeLedger) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = tonic::transport::Server::builder()
        .add_service(LedgerServer::new(ledger))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    url
}

/// Append arguments for `account` at `server`.
fn append_args(server: &str, account: &str, expected: ExpectedRevision) -> AppendArgs {
    AppendArgs {
        client: super::ClientArgs::plain(server),
        account: account.into(),
        expected,
        file: None,
    }
}

/// Read arguments for `server`, everything else at its default.
fn read_args(server: &str) -> ReadArgs {
    ReadArgs {
        client: super::ClientArgs::plain(server),
        account: None,
        from: None,
        backwards: false,
        max_count: None,
        event_types: Vec::new(),
    }
}

/// The JSON lines written to `out`.
fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The gRPC error a command returned.
fn rpc_error(result: anyhow::Result<()>) -> RpcError {
    result
        .unwrap_err()
        .downcast::<RpcError>()
        .expect("a gRPC error")
        .clone()
}

const TWO_EVENTS: &str = concat!(
    r#"{"eventId":"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11","actor":"li.wei","call":{"contactId":"c-1"}}"#,
    "\n\n",
    r#"{"actor":"li.wei","visit":{"contact_ids":["c-1"]}}"#,
    "\n",
);

#[tokio::test]
async fn append_sends_every_line_in_one_request_and_prints_the_response() {
    let ledger = FakeLedger::default();
    let url = serve(ledger.clone()).await;
    let mut out = Vec::new();

    append_to(
        append_args(&url, "acme", ExpectedRevision::Exact(4)),
        TWO_EVENTS,
        &mut out,
    )
    .await
    .unwrap();

    let appends = ledger.appends.lock().unwrap().clone();
    assert_eq!(appends.len(), 1, "one atomic request");
    assert_eq!(appends[0].account_id, "acme");
    assert_eq!(appends[0].events.len(), 2);
    assert_eq!(
        appends[0].events[0].event_id,
        "0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11"
    );
    assert_eq!(
        crate::api::convert::expected_revision_from_proto(appends[0].expected_revision),
        ExpectedRevision::Exact(4)
    );
    let printed = json_lines(&out);
    assert_eq!(printed.len(), 1);
    assert_eq!(
        printed[0]["lastRevision"], "1",
        "uint64 is a JSON string in the proto3 mapping"
    );
    assert_eq!(printed[0]["firstPosition"], "10");
}

#[tokio::test]
async fn a_refused_append_is_a_grpc_error_with_its_code() {
    let url = serve(FakeLedger::default()).await;
    let mut out = Vec::new();
    let result = append_to(
        append_args(&url, "refused", ExpectedRevision::NoStream),
        TWO_EVENTS,
        &mut out,
    )
    .await;
    let error = rpc_error(result);
    assert_eq!(error.code, tonic::Code::Aborted);
    assert_eq!(
        error.to_string(),
        "ABORTED: expected no stream, but the stream is at revision 3"
    );
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_bad_line_sends_nothing() {
    let ledger = FakeLedger::default();
    let url = serve(ledger.clone()).await;
    let input = format!("{TWO_EVENTS}{{\"call\": oops}}\n");
    let error = append_to(
        append_args(&url, "acme", ExpectedRevision::Any),
        &input,
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.downcast_ref::<LineError>().map(|e| e.line), Some(4));
    let error = append_to(
        append_args(&url, "acme", ExpectedRevision::Any),
        "\n\n",
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("nothing to append"), "{error}");
    assert!(ledger.appends.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_names_its_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = read_to(read_args(&url), &mut Vec::new()).await.unwrap_err();
    assert!(error.to_string().contains(&url), "{error}");
    assert!(error.downcast_ref::<RpcError>().is_none());
}

#[tokio::test]
async fn read_prints_one_json_line_per_event() {
    let ledger = FakeLedger::default();
    let url = serve(ledger.clone()).await;

    let mut out = Vec::new();
    let args = ReadArgs {
        from: Some(5),
        backwards: true,
        max_count: Some(2),
        event_types: vec!["visit".into(), "call".into()],
        ..read_args(&url)
    };
    read_to(args, &mut out).await.unwrap();
    let printed = json_lines(&out);
    assert_eq!(printed.len(), 3);
    assert_eq!(printed[2]["position"], "2");
    assert_eq!(printed[2]["eventType"], "call");
    let all = ledger.all_reads.lock().unwrap()[0].clone();
    assert_eq!(all.from_position, Some(5));
    assert_eq!(all.direction, i32::from(proto::Direction::Backwards));
    assert_eq!(all.max_count, 2);
    assert_eq!(all.event_types, ["visit", "call"]);

    let mut out = Vec::new();
    let args = ReadArgs {
        account: Some("acme".into()),
        ..read_args(&url)
    };
    read_to(args, &mut out).await.unwrap();
    assert_eq!(json_lines(&out).len(), 2);
    let stream = ledger.stream_reads.lock().unwrap()[0].clone();
    assert_eq!(stream.account_id, "acme");
    assert_eq!(stream.from_revision, None);
    assert_eq!(stream.direction, i32::from(proto::Direction::Forwards));
    assert_eq!(stream.max_count, 0);
}

#[tokio::test]
async fn read_errors_keep_what_was_printed() {
    let url = serve(FakeLedger::default()).await;
    let missing = ReadArgs {
        account: Some("missing".into()),
        ..read_args(&url)
    };
    assert_eq!(
        rpc_error(read_to(missing, &mut Vec::new()).await).code,
        tonic::Code::NotFound
    );

    let mut out = Vec::new();
    let broken = ReadArgs {
        account: Some("broken".into()),
        ..read_args(&url)
    };
    let error = rpc_error(read_to(broken, &mut out).await);
    assert_eq!(error.to_string(), "DATA_LOSS: record 2 does not decode");
    assert_eq!(json_lines(&out).len(), 2);
}

/// The arguments as `main` would parse them.
#[derive(Debug, clap::Parser)]
enum Command {
    /// `relledger append`.
    Append(AppendArgs),
    /// `relledger read`.
    Read(ReadArgs),
}

#[test]
fn arguments_parse_with_their_defaults() {
    let Command::Append(args) =
        Command::try_parse_from(["x", "append", "--account", "acme"]).unwrap()
    else {
        panic!("not append")
    };
    assert_eq!(args.expected, ExpectedRevision::Any);
    assert_eq!(args.file, None);
    if std::env::var_os("RELLEDGER_SERVER").is_none() {
        assert_eq!(args.client.server, DEFAULT_SERVER);
    }
    assert!(
        Command::try_parse_from(["x", "append"]).is_err(),
        "--account is required"
    );

    let Command::Read(args) =
        Command::try_parse_from(["x", "read", "--event-type", "visit", "--event-type", "call"])
            .unwrap()
    else {
        panic!("not read")
    };
    assert_eq!(args.event_types, ["visit", "call"]);
    assert!(
        Command::try_parse_from(["x", "read", "--account", "a", "--event-type", "visit"]).is_err(),
        "event types filter the global log only"
    );
}

#[test]
fn expected_revisions_parse() {
    assert_eq!(parse_expected("any"), Ok(ExpectedRevision::Any));
    assert_eq!(parse_expected("no-stream"), Ok(ExpectedRevision::NoStream));
    assert_eq!(
        parse_expected("stream-exists"),
        Ok(ExpectedRevision::StreamExists)
    );
    assert_eq!(parse_expected("17"), Ok(ExpectedRevision::Exact(17)));
    assert!(parse_expected("-1").is_err());
    assert!(parse_expected("none").is_err());
}

#[test]
fn every_code_has_its_canonical_name() {
    for raw in 0..=16 {
        let code = tonic::Code::from(raw);
        let name = code_name(code);
        assert_eq!(name, name.to_uppercase());
        assert_eq!(
            name.replace('_', "").to_lowercase(),
            format!("{code:?}").to_lowercase()
        );
    }
}
