//! Shared test harness: a real server on 127.0.0.1:0 with a temp data dir, a real tonic client,
//! and builders for wire events.
#![allow(dead_code)]

pub mod binary;
pub mod changes;
pub mod events;
pub mod nats;
pub mod raw_log;
pub mod small_disk;
pub mod store;
pub mod stories;
pub mod subscribe;

/// Asks gRPC reflection `$version` (`v1` or `v1alpha`: the same messages in two packages) one
/// question on `$channel`, with no credentials: its answer.
macro_rules! reflect {
    ($version:ident, $channel:expr, $request:expr) => {{
        use tonic_reflection::pb::$version::{
            server_reflection_client::ServerReflectionClient, ServerReflectionRequest,
        };
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some($request),
        };
        ServerReflectionClient::new($channel)
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .expect("a reflection answer")
            .message_response
    }};
}
pub(crate) use reflect;

/// The names of the services reflection `$version` lists on `$channel` (see [`reflect`]).
macro_rules! listed_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let answer = $crate::common::reflect!(
            $version,
            $channel,
            MessageRequest::ListServices(String::new())
        );
        let Some(MessageResponse::ListServicesResponse(list)) = answer else {
            panic!("expected a service list: {answer:?}");
        };
        list.service
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<String>>()
    }};
}
pub(crate) use listed_services;

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{self, AppendRequest, AppendResponse, ReadAllRequest, RecordedEvent};
use relledger::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A server running in this test process.
pub struct TestServer {
    /// The address it listens on.
    pub address: std::net::SocketAddr,
    /// A connected client.
    pub client: LedgerClient<Channel>,
    /// The data dir it serves.
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), relledger::ServeError>>>,
}

impl TestServer {
    /// Starts a server with default settings on `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(Config::new(data_dir)).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap();
        let data_dir = config.data_dir.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(relledger::serve(listener, config, async {
            let _ = rx.await;
        }));
        // The listener is bound before the server task runs, so the connection is accepted as
        // soon as the server polls it: no readiness race.
        let client = LedgerClient::connect(format!("http://{address}"))
            .await
            .expect("connect");
        TestServer {
            address,
            client,
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A new client channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A new client channel whose HTTP/2 flow-control windows (the stream's and the
    /// connection's) are `window` bytes: how much the server may send on it before this
    /// client reads. The slow-consumer tests use a small one, so that what a stalled stream can
    /// hold in transit is small and known.
    pub async fn channel_with_window(&self, window: u32) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .initial_stream_window_size(window)
            .initial_connection_window_size(window)
            .connect()
            .await
            .unwrap()
    }

    /// Shuts the server down and waits until it has released the data dir.
    pub async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).ok();
        let result = self
            .task
            .take()
            .unwrap()
            .await
            .expect("server task panicked");
        result.expect("server stopped with an error");
    }

    /// Appends `events` to `account` with no revision check.
    pub async fn append(
        &mut self,
        account: &str,
        events: Vec<proto::ProposedEvent>,
    ) -> Result<AppendResponse, tonic::Status> {
        self.client
            .append(AppendRequest {
                account_id: account.to_string(),
                expected_revision: None,
                events,
            })
            .await
            .map(|r| r.into_inner())
    }

    /// The whole global log, forwards.
    pub async fn read_all(&mut self) -> Vec<RecordedEvent> {
        read_all(&mut self.client, ReadAllRequest::default())
            .await
            .expect("read all")
    }
}

/// Any transport a generated client runs over: a plain channel, or one that adds a token.
pub trait Transport:
    tonic::client::GrpcService<
    tonic::body::Body,
    Error: Into<tonic::codegen::StdError>,
    ResponseBody: tonic::codegen::Body<
        Data = tonic::codegen::Bytes,
        Error: Into<tonic::codegen::StdError> + Send,
    > + Send
                      + 'static,
>
{
}

impl<T> Transport for T where
    T: tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<tonic::codegen::StdError>,
        ResponseBody: tonic::codegen::Body<
            Data = tonic::codegen::Bytes,
            Error: Into<tonic::codegen::StdError> + Send,
        > + Send
                          + 'static,
    >
{
}

/// Collects a ReadAll.
pub async fn read_all<T: Transport>(
    client: &mut LedgerClient<T>,
    request: ReadAllRequest,
) -> Result<Vec<RecordedEvent>, tonic::Status> {
    client
        .read_all(request)
        .await?
        .into_inner()
        .try_collect()
        .await
}

/// Collects a ReadStream.
pub async fn read_stream<T: Transport>(
    client: &mut LedgerClient<T>,
    request: proto::ReadStreamRequest,
) -> Result<Vec<RecordedEvent>, tonic::Status> {
    client
        .read_stream(request)
        .await?
        .into_inner()
        .try_collect()
        .await
}

/// Asserts the hash chain's links hold over consecutive records read from position 0.
pub fn assert_chain_links(records: &[RecordedEvent]) {
    let mut prev = vec![0u8; 32];
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.position, i as u64, "positions are gapless from 0");
        assert_eq!(
            record.prev_hash, prev,
            "prev_hash of position {i} links to the record before"
        );
        assert_eq!(record.hash.len(), 32);
        prev = record.hash.clone();
    }
}
