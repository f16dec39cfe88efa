//! A server with an auth file, and clients that send each principal's token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::auth::limits::LimitsEntry;
use relledger::auth::principals::FileEntries;
use relledger::auth::{Authenticator, Role, Token};
use relledger::cli::{ClientArgs, ClientChannel};
use relledger::config::Config;
use tempfile::TempDir;

use crate::common::TestServer;

/// A principal to create: its name, roles and account prefixes.
pub type Spec<'a> = (&'a str, &'a [Role], &'a [&'a str]);

/// A running server enforcing an auth file, with a token per principal.
pub struct Secured {
    pub server: TestServer,
    pub auth: Arc<Authenticator>,
    tokens: HashMap<String, Token>,
    file: FileEntries,
    path: PathBuf,
    _dir: TempDir,
}

impl Secured {
    /// A server whose auth file holds `principals`, each with one token.
    pub async fn start(principals: &[Spec<'_>]) -> Secured {
        Self::start_with_limits(principals, &[]).await
    }

    /// The same, with the limits (JSON of `LimitsEntry`) of some principals.
    pub async fn start_with_limits(principals: &[Spec<'_>], limits: &[(&str, &str)]) -> Secured {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let mut file = FileEntries::default();
        let mut tokens = HashMap::new();
        for (name, roles, prefixes) in principals {
            let token = Token::generate().unwrap();
            let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
            file.add_token(name, roles, &prefixes, token.hash())
                .unwrap();
            tokens.insert(name.to_string(), token);
        }
        for (name, json) in limits {
            let entry: LimitsEntry = serde_json::from_str(json).unwrap();
            let principal = file
                .principals
                .iter_mut()
                .find(|p| p.name == *name)
                .unwrap();
            principal.limits = Some(entry);
        }
        file.write(&path).unwrap();
        let auth = Arc::new(Authenticator::open(&path).unwrap());
        let mut config = Config::new(dir.path().join("data"));
        config.auth = Some(Arc::clone(&auth));
        let server = TestServer::start_with(config).await;
        Secured {
            server,
            auth,
            tokens,
            file,
            path,
            _dir: dir,
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.address)
    }

    /// The token of `name`.
    pub fn token(&self, name: &str) -> &str {
        self.tokens[name].expose()
    }

    /// A channel that sends `token`.
    pub async fn channel_with(&self, token: &str) -> ClientChannel {
        ClientArgs::plain(self.url())
            .with_token(token)
            .connect()
            .await
            .unwrap()
    }

    /// A Ledger client sending `token`.
    pub async fn ledger_with(&self, token: &str) -> LedgerClient<ClientChannel> {
        LedgerClient::new(self.channel_with(token).await)
    }

    /// A Ledger client of principal `name`.
    pub async fn ledger(&self, name: &str) -> LedgerClient<ClientChannel> {
        self.ledger_with(self.token(name)).await
    }

    /// A Relationships client of principal `name`.
    pub async fn relationships(&self, name: &str) -> RelationshipsClient<ClientChannel> {
        RelationshipsClient::new(self.channel_with(self.token(name)).await)
    }

    /// An Audit client of principal `name`.
    pub async fn audit(&self, name: &str) -> AuditClient<ClientChannel> {
        AuditClient::new(self.channel_with(self.token(name)).await)
    }

    /// Removes principal `name` from the auth file and reloads it, as SIGHUP does.
    pub fn remove(&mut self, name: &str) {
        assert!(self.file.remove_principal(name));
        self.file.write(&self.path).unwrap();
        self.auth.reload().unwrap();
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
