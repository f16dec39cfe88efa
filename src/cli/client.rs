//! How the client subcommands reach a server: its URL, the bearer token they send, and the
//! certificates of a TLS connection.

use std::path::PathBuf;
use std::task::{Context, Poll};

use anyhow::Context as _;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The server the commands talk to unless `--server` or `RELLEDGER_SERVER` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// The connection flags every client subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The server's URL: `http://` for plain HTTP/2, `https://` for TLS.
    #[arg(long, value_name = "URL", env = "RELLEDGER_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// How the client proves who it is and checks the server.
    #[command(flatten)]
    pub credentials: Credentials,
}

/// The token and certificates a client connects with.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Credentials {
    /// The bearer token to send (from `relledger token create`); a server with an auth file
    /// refuses requests without one.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RELLEDGER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The CA certificate (PEM) that the server's certificate must chain to; without it, the
    /// system's roots are not consulted, so give it for every `https://` server.
    #[arg(long, value_name = "FILE", env = "RELLEDGER_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for a server that requires client certificates (mTLS).
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_CLIENT_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of `--client-cert`.
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_CLIENT_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
}

impl ClientArgs {
    /// The flags for the server at `server`, without token or certificates.
    pub fn plain(server: impl Into<String>) -> ClientArgs {
        ClientArgs {
            server: server.into(),
            credentials: Credentials::default(),
        }
    }

    /// The same flags with the bearer token `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> ClientArgs {
        self.credentials.token = Some(token.into());
        self
    }

    /// Connects to the server, over TLS when the URL is `https://`.
    pub async fn connect(&self) -> anyhow::Result<ClientChannel> {
        self.credentials.connect(&self.server).await
    }
}

impl Credentials {
    /// Connects to the server at `server`, over TLS when the URL is `https://`.
    pub async fn connect(&self, server: &str) -> anyhow::Result<ClientChannel> {
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .with_context(|| format!("invalid server URL {server:?}"))?;
        if server.starts_with("https://") {
            endpoint = endpoint
                .tls_config(self.tls()?)
                .context("cannot configure TLS")?;
        } else if self.ca_cert.is_some() || self.client_cert.is_some() {
            anyhow::bail!("--ca-cert and --client-cert need an https:// server URL, not {server}");
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {server}"))?;
        let authorization = match &self.token {
            Some(token) => {
                let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.trim()))
                    .context("the token holds characters a header cannot carry")?;
                // Kept out of any debug output of the request.
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(ClientChannel {
            channel,
            authorization,
        })
    }

    fn tls(&self) -> anyhow::Result<ClientTlsConfig> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .with_context(|| format!("cannot read the {what} {}", path.display()))
        };
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &self.ca_cert {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            tls = tls.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        Ok(tls)
    }
}

/// A connection that sends the bearer token with every request.
#[derive(Debug, Clone)]
pub struct ClientChannel {
    channel: Channel,
    /// `Bearer <token>`, when a token was given.
    authorization: Option<http::HeaderValue>,
}

impl tower::Service<http::Request<tonic::body::Body>> for ClientChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, authorization.clone());
        }
        self.channel.call(request)
    }
}
