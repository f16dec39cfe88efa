//! Abuse of a running server: garbage on a raw connection, a connection preface cut short, a
//! 100 MB message, and a flood of HTTP/2 streams opened and reset at once. After each, a client
//! on a fresh connection must still append and read: the server keeps serving others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{AppendRequest, ReadStreamRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::events::opening;
use crate::common::{read_stream, TestServer};

/// The HTTP/2 connection preface a client sends first (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A bound on how long the server may take to react to one abuse. Only a failure waits for it:
/// a server that works answers at once.
const PATIENCE: Duration = Duration::from_secs(60);

/// Appends to a new account on a fresh connection and reads it back: the server still serves.
async fn still_serves(server: &TestServer, account: &str) {
    let mut client = LedgerClient::new(server.channel().await);
    let appended = tokio::time::timeout(
        PATIENCE,
        client.append(AppendRequest {
            account_id: account.to_string(),
            expected_revision: None,
            events: opening(account),
        }),
    )
    .await
    .expect("the append is answered")
    .expect("the append succeeds")
    .into_inner();
    assert_eq!((appended.first_revision, appended.last_revision), (0, 1));
    let read = read_stream(
        &mut client,
        ReadStreamRequest {
            account_id: account.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect("the read succeeds");
    assert_eq!(read.len(), 2);
}

/// Reads what the server sends on `tcp` until it closes the connection; panics if it does not
/// within [`PATIENCE`]. Returns the bytes read.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    received
}

#[tokio::test]
async fn garbage_on_a_raw_connection_is_dropped_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut tcp = TcpStream::connect(server.address).await.unwrap();
    // Not a preface: bytes of every value, more than one read's worth.
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 251) as u8).collect();
    // The server may close while the garbage is still being written; either way it must not
    // keep the connection.
    let _ = tcp.write_all(&garbage).await;
    read_until_closed(&mut tcp).await;
    still_serves(&server, "after-garbage").await;
    server.stop().await;
}

#[tokio::test]
async fn a_preface_cut_short_neither_holds_up_others_nor_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    // One connection sends half the preface and hangs there while others are served...
    let mut hanging = TcpStream::connect(server.address).await.unwrap();
    hanging.write_all(&PREFACE[..10]).await.unwrap();
    still_serves(&server, "beside-a-hanging-preface").await;
    // ...another sends half the preface and closes.
    let mut closing = TcpStream::connect(server.address).await.unwrap();
    closing.write_all(&PREFACE[..10]).await.unwrap();
    closing.shutdown().await.unwrap();
    read_until_closed(&mut closing).await;
    still_serves(&server, "after-a-closed-preface").await;
    drop(hanging);
    still_serves(&server, "after-a-hung-preface").await;
    server.stop().await;
}

/// The size the oversized message claims, and what the client offers to send of it.
const HUGE: usize = 100 * 1024 * 1024;

#[tokio::test]
async fn a_100_mb_message_is_refused_without_being_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    // tonic's client refuses to encode a message past its own limit, so the request is sent
    // with a raw HTTP/2 client: the gRPC frame header claims 100 MB, and the body follows in
    // 1 MiB chunks, as fast as flow control lets it.
    let tcp = TcpStream::connect(server.address).await.unwrap();
    let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.unwrap();
    let request = http::Request::post(format!(
        "http://{}/relledger.v1.Ledger/Append",
        server.address
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut body) = h2.send_request(request, false).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let sending = tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            let mut prefix = vec![0u8];
            prefix.extend_from_slice(&(HUGE as u32).to_be_bytes());
            if body.send_data(Bytes::from(prefix), false).is_err() {
                return;
            }
            let chunk = Bytes::from(vec![0u8; 1024 * 1024]);
            while (sent.load(Ordering::Relaxed) as usize) < HUGE {
                body.reserve_capacity(chunk.len());
                let granted = match std::future::poll_fn(|cx| body.poll_capacity(cx)).await {
                    Some(Ok(granted)) => granted,
                    // The server reset the stream or closed the connection: it read no further.
                    _ => return,
                };
                if body.send_data(chunk.slice(..granted), false).is_err() {
                    return;
                }
                sent.fetch_add(granted as u64, Ordering::Relaxed);
            }
            let _ = body.send_data(Bytes::new(), true);
        }
    });
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("the server answers")
        .expect("with a response, not a reset");
    assert_eq!(
        response.status(),
        http::StatusCode::OK,
        "gRPC errors travel in trailers"
    );
    // A gRPC error before any message is "trailers only": the status is in the headers.
    let headers = response.headers();
    let status = headers.get("grpc-status").expect("a gRPC status");
    let message = headers
        .get("grpc-message")
        .map(|m| m.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(
        status,
        &(tonic::Code::OutOfRange as i32).to_string(),
        "{message}"
    );
    assert!(
        message.contains("too%20large") || message.contains("too large"),
        "{message}"
    );
    // The server refused the message from its 5-byte header: it read at most its flow-control
    // windows' worth of the body, never the 100 MB.
    sending.abort();
    let _ = sending.await;
    let offered = sent.load(Ordering::Relaxed);
    assert!(
        offered < 16 * 1024 * 1024,
        "the client could send {offered} bytes of a refused message"
    );
    still_serves(&server, "after-a-huge-message").await;
    server.stop().await;
}

/// An HTTP/2 frame header: payload length, type, flags and stream id (RFC 9113, section 4.1).
fn frame_header(out: &mut Vec<u8>, length: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// How a flood's streams end, right after they are opened.
#[derive(Clone, Copy)]
enum Ending {
    /// The client cancels it (RST_STREAM): HTTP/2's "rapid reset" (CVE-2023-44487).
    Cancelled,
    /// The client sends a frame the protocol forbids on it (a WINDOW_UPDATE growing its send
    /// window past 2^31 - 1 bytes), so that the server resets it: "MadeYouReset"
    /// (CVE-2025-8671).
    ResetByTheServer,
}

/// A request's HEADERS on `stream` (`POST /relledger.v1.Ledger/Append`, HPACK with no dynamic
/// table, so every block is the same bytes), then the frame that ends it at once.
fn open_and_end(out: &mut Vec<u8>, stream: u32, ending: Ending) {
    const PATH: &[u8] = b"/relledger.v1.Ledger/Append";
    // :method POST and :scheme http from the static table, :path as a literal.
    let mut block = vec![0x83, 0x86, 0x04, PATH.len() as u8];
    block.extend_from_slice(PATH);
    const HEADERS: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    frame_header(out, block.len(), HEADERS, END_HEADERS, stream);
    out.extend_from_slice(&block);
    match ending {
        Ending::Cancelled => {
            const RST_STREAM: u8 = 0x3;
            const CANCEL: u32 = 0x8;
            frame_header(out, 4, RST_STREAM, 0, stream);
            out.extend_from_slice(&CANCEL.to_be_bytes());
        }
        Ending::ResetByTheServer => {
            const WINDOW_UPDATE: u8 = 0x8;
            const LARGEST_INCREMENT: u32 = 0x7fff_ffff;
            frame_header(out, 4, WINDOW_UPDATE, 0, stream);
            out.extend_from_slice(&LARGEST_INCREMENT.to_be_bytes());
        }
    }
}

/// What a flood of streams on one connection came to.
struct Flooded {
    /// Streams whose frames were written before the server closed the connection.
    written: u64,
    /// The GOAWAY's error code, if the server sent one.
    goaway: Option<u32>,
}

/// Opens and ends up to `streams` streams on a new connection, writing them in batches, until
/// they are all written or the server closes the connection.
async fn flood(server: &TestServer, streams: u32, ending: Ending) -> Flooded {
    let tcp = TcpStream::connect(server.address).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut read, mut write) = tcp.into_split();
    // The server's frames are read as they come, so its writes never block on this client.
    let reading = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        goaway_code(&received)
    });
    let mut start = PREFACE.to_vec();
    const SETTINGS: u8 = 0x4;
    frame_header(&mut start, 0, SETTINGS, 0, 0);
    let mut written = 0u64;
    if write.write_all(&start).await.is_ok() {
        const BATCH: u32 = 1024;
        let mut batch = Vec::new();
        for first in (0..streams).step_by(BATCH as usize) {
            batch.clear();
            for n in first..(first + BATCH).min(streams) {
                open_and_end(&mut batch, 2 * n + 1, ending);
            }
            if write.write_all(&batch).await.is_err() {
                break;
            }
            written += u64::from((first + BATCH).min(streams) - first);
        }
    }
    drop(write);
    let goaway = tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the server closes the connection")
        .unwrap();
    Flooded { written, goaway }
}

/// The error code of the first GOAWAY among `frames` (a server's bytes after the preface).
fn goaway_code(frames: &[u8]) -> Option<u32> {
    const GOAWAY: u8 = 0x7;
    let mut at = 0;
    while at + 9 <= frames.len() {
        let length = u32::from_be_bytes([0, frames[at], frames[at + 1], frames[at + 2]]) as usize;
        let payload = frames.get(at + 9..at + 9 + length)?;
        if frames[at + 3] == GOAWAY && length >= 8 {
            return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
        at += 9 + length;
    }
    None
}

/// How many streams the rapid-reset flood offers in all.
const FLOOD_STREAMS: u32 = 1_000_000;

/// The ENHANCE_YOUR_CALM error code of a GOAWAY.
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Streams opened and cancelled at once cost the server a task each while costing the client
/// one write. The server must cut such a connection off (GOAWAY with ENHANCE_YOUR_CALM)
/// instead of working through them, keep serving others, and not die or stall, however many
/// connections try.
#[tokio::test]
async fn a_flood_of_streams_opened_and_cancelled_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    // A million streams are offered, one connection after another, each connection offered the
    // whole rest. The server reads a few dozen of them (`server::MAX_PENDING_ACCEPT_RESETS`)
    // before it cuts the connection off; what the client could write before that is what the
    // kernel's socket buffers took (about 75,000 streams a connection here), so a million take
    // about fourteen connections, and half a second in a debug build.
    let mut offered = 0u64;
    let mut connections = 0;
    while offered < u64::from(FLOOD_STREAMS) {
        let rest = FLOOD_STREAMS - offered as u32;
        let flooded = flood(&server, rest, Ending::Cancelled).await;
        assert_eq!(
            flooded.goaway,
            Some(ENHANCE_YOUR_CALM),
            "the server cut the flood off after {} streams",
            flooded.written
        );
        assert!(flooded.written > 0, "the connection was refused outright");
        offered += flooded.written;
        connections += 1;
        assert!(connections <= 1_000, "the flood made no headway");
    }
    still_serves(&server, "after-a-flood-of-cancels").await;
    server.stop().await;
}

/// Streams the client makes the server reset (by sending a frame the protocol forbids on
/// them) cost the server as much as cancelled ones, but are counted apart: the server must cut
/// such a connection off too, after a bounded number of them.
#[tokio::test]
async fn a_flood_of_streams_the_server_must_reset_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let flooded = flood(&server, 50_000, Ending::ResetByTheServer).await;
    assert_eq!(
        flooded.goaway,
        Some(ENHANCE_YOUR_CALM),
        "the server worked through {} streams it reset itself",
        flooded.written
    );
    still_serves(&server, "after-a-flood-of-resets").await;
    server.stop().await;
}
