//! A minimal unary gRPC client straight on the `h2` crate: one HTTP/2 connection, each call one
//! stream (HEADERS, one DATA frame ending the stream; the answer's HEADERS, DATA and trailers),
//! awaited in the caller's task.
//!
//! Why the compare bench has it: tonic's `Channel` runs every call through a `Buffer` task and
//! hyper's client, which spawns a task per call to await its response, so on this one machine
//! the clients' side of a unary call costs about as much CPU as the server's, and that CPU is
//! taken from the server being measured. PostgreSQL and JetStream are driven by lean clients
//! (tokio-postgres, async-nats); this is the gRPC equivalent, speaking the same protocol to
//! the same server. The tonic row stays in the table beside it.

use anyhow::Context as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, Uri};
use tokio::net::TcpStream;

/// The gRPC message prefix: one byte "compressed" flag and the message length (u32 BE).
const PREFIX: usize = 5;

/// One HTTP/2 connection to a gRPC server.
#[derive(Clone)]
pub struct H2Client {
    send: h2::client::SendRequest<Bytes>,
    /// `http://host:port`, the authority every request names.
    origin: String,
}

impl H2Client {
    /// Connects to `origin` (`http://127.0.0.1:port`) and drives the connection on a task of
    /// its own until the last clone of the client is dropped.
    pub async fn connect(origin: &str) -> anyhow::Result<H2Client> {
        let uri: Uri = origin
            .parse()
            .with_context(|| format!("bad URL {origin}"))?;
        let authority = uri
            .authority()
            .with_context(|| format!("{origin} names no host"))?
            .to_string();
        let tcp = TcpStream::connect(&authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        // As tonic does: a request must not wait for the previous segment's ACK.
        tcp.set_nodelay(true)?;
        let (send, connection) = h2::client::handshake(tcp)
            .await
            .context("HTTP/2 handshake failed")?;
        tokio::spawn(async move {
            // The connection ends when the server closes it or every client is gone; a
            // call in flight then fails with the reason.
            let _ = connection.await;
        });
        Ok(H2Client {
            send,
            origin: origin.trim_end_matches('/').to_string(),
        })
    }

    /// Calls the unary method `path` (`/package.Service/Method`) with `request`: the server's
    /// answer, or its status when it answered with an error. The outer error is the transport's.
    pub async fn unary<Req, Resp>(
        &mut self,
        path: &str,
        request: &Req,
    ) -> anyhow::Result<Result<Resp, tonic::Status>>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let head = Request::post(format!("{}{path}", self.origin))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let mut message = BytesMut::with_capacity(PREFIX + request.encoded_len());
        message.put_u8(0);
        message.put_u32(u32::try_from(request.encoded_len()).context("message too large")?);
        request.encode(&mut message)?;

        let mut send = self.send.clone().ready().await?;
        let (answer, mut body) = send.send_request(head, false)?;
        body.send_data(message.freeze(), true)?;
        let (parts, mut body) = answer.await?.into_parts();
        // An error may come "trailers-only": the status is in the headers and there is no body.
        if let Some(status) = status_of(&parts.headers) {
            return Ok(Err(status));
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            body.flow_control().release_capacity(chunk.len())?;
            bytes.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await?.unwrap_or_default();
        match status_of(&trailers) {
            Some(status) => return Ok(Err(status)),
            None => anyhow::ensure!(
                trailers.contains_key("grpc-status"),
                "the answer to {path} has no grpc-status"
            ),
        }
        anyhow::ensure!(bytes.len() >= PREFIX, "the answer to {path} has no message");
        anyhow::ensure!(bytes[0] == 0, "the answer to {path} is compressed");
        let length = u32::from_be_bytes(bytes[1..PREFIX].try_into().expect("4 bytes")) as usize;
        anyhow::ensure!(
            bytes.len() == PREFIX + length,
            "the answer to {path} is not one whole message"
        );
        Ok(Ok(Resp::decode(&bytes[PREFIX..])?))
    }
}

/// The status in `headers` when it is not OK; `None` when it is OK or absent.
fn status_of(headers: &HeaderMap) -> Option<tonic::Status> {
    tonic::Status::from_header_map(headers).filter(|status| status.code() != tonic::Code::Ok)
}
