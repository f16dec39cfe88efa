//! TLS and mTLS against a real server, with certificates made for the test (rcgen): the
//! repository holds no key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{self, AppendRequest};
use relledger::auth::Authenticator;
use relledger::cli::{ClientArgs, Credentials};
use relledger::config::{Config, TlsConfig};
use relledger::store::jetstream::NatsTls;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;

use crate::common::events::opening;
use crate::common::nats::Nats;
use crate::common::TestServer;

/// A CA, and certificates it signed, written as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "relledger test CA");
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), certificate.pem()).unwrap();
        Pki {
            dir,
            ca: Issuer::new(params, key),
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `names` with the subject `CN=common_name,O=Acme`, as (cert, key)
    /// files named after `file`.
    fn issue(&self, file: &str, names: &[&str], common_name: &str) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{file}.pem")),
            self.dir.path().join(format!("{file}.key")),
        );
        std::fs::write(&cert_path, certificate.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn server_tls(&self, client_ca: bool) -> TlsConfig {
        let (cert, key) = self.issue("server", &["127.0.0.1", "localhost"], "relledger");
        TlsConfig {
            certificate_pem: std::fs::read(cert).unwrap(),
            key_pem: std::fs::read(key).unwrap(),
            client_ca_pem: client_ca.then(|| std::fs::read(self.ca()).unwrap()),
        }
    }
}

/// A server on 127.0.0.1:0 with `config`, its `https://` URL, and what stops it.
async fn start(config: Config) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        relledger::serve(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (url, stop, task)
}

fn credentials(ca: Option<&Path>, client: Option<(PathBuf, PathBuf)>) -> Credentials {
    let (client_cert, client_key) = client.unzip();
    Credentials {
        token: None,
        ca_cert: ca.map(Path::to_path_buf),
        client_cert,
        client_key,
    }
}

fn append() -> AppendRequest {
    AppendRequest {
        account_id: "north-1".into(),
        expected_revision: None,
        events: opening("Acme"),
    }
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_talks_tls_and_one_that_does_not_cannot_connect() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::new(data.path());
    config.tls = Some(pki.server_tls(false));
    let (url, stop, task) = start(config).await;

    let channel = credentials(Some(&pki.ca()), None)
        .connect(&url)
        .await
        .unwrap();
    let appended = LedgerClient::new(channel).append(append()).await.unwrap();
    assert_eq!(appended.into_inner().first_position, 0);

    // Without the CA, the server's certificate is trusted by nothing.
    let untrusted = credentials(None, None).connect(&url).await;
    assert!(untrusted.is_err(), "connected without trusting the CA");
    // Plain HTTP/2 to a TLS port gets no gRPC answer.
    let plain = ClientArgs::plain(url.replace("https://", "http://"));
    if let Ok(channel) = plain.connect().await {
        assert!(LedgerClient::new(channel).append(append()).await.is_err());
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn under_mtls_a_certificate_subject_stands_for_its_principal() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let auth_path = data.path().join("auth.json");
    std::fs::write(
        &auth_path,
        r#"{"principals":[{"name":"analytics","roles":["subscriber"],"certificate_subjects":["CN=analytics,O=Acme"]}]}"#,
    )
    .unwrap();
    let mut config = Config::new(data.path().join("data"));
    config.tls = Some(pki.server_tls(true));
    config.auth = Some(Arc::new(Authenticator::open(&auth_path).unwrap()));
    let (url, stop, task) = start(config).await;

    let analytics = pki.issue("analytics", &[], "analytics");
    let channel = credentials(Some(&pki.ca()), Some(analytics))
        .connect(&url)
        .await
        .unwrap();
    let mut client = LedgerClient::new(channel);
    // The subject names a subscriber: it lists subscriptions, and may not append.
    assert!(client
        .list_subscriptions(proto::ListSubscriptionsRequest::default())
        .await
        .is_ok());
    let refused = client.append(append()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("\"analytics\""),
        "{}",
        refused.message()
    );

    // A certificate whose subject no principal has is unknown, though TLS accepted it.
    let stranger = pki.issue("stranger", &[], "stranger");
    let channel = credentials(Some(&pki.ca()), Some(stranger))
        .connect(&url)
        .await
        .unwrap();
    let refused = LedgerClient::new(channel)
        .list_subscriptions(proto::ListSubscriptionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Without a client certificate the connection itself is refused.
    let anonymous = match credentials(Some(&pki.ca()), None).connect(&url).await {
        Err(_) => true,
        Ok(channel) => LedgerClient::new(channel)
            .list_subscriptions(proto::ListSubscriptionsRequest::default())
            .await
            .is_err(),
    };
    assert!(anonymous, "a client without a certificate was served");
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// A single nats-server that requires TLS with a certificate from `pki` and verifies its
/// clients' certificates against the same CA.
async fn nats_over_mtls(pki: &Pki) -> Nats {
    let (cert, key) = pki.issue("nats", &["127.0.0.1", "localhost"], "nats");
    Nats::cluster_with(
        1,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}",
            cert.display(),
            key.display(),
            pki.ca().display()
        ),
    )
    .await
}

/// Whether a server with `config` stops at start, and why.
async fn refused_at_start(config: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = relledger::serve(listener, config, std::future::pending()).await;
    served.expect_err("the server started").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reaches_nats_over_mutual_tls_and_is_refused_without_it() {
    let pki = Pki::new();
    let nats = nats_over_mtls(&pki).await;
    let replica = pki.issue("replica", &[], "replica");
    let with = |ca: Option<PathBuf>, client: Option<(PathBuf, PathBuf)>| {
        let dir = tempfile::tempdir().unwrap();
        let mut options = nats.options();
        options.tls = NatsTls { ca, client };
        let mut config = Config::new(dir.path());
        config.store = Some(options);
        (config, dir)
    };

    // Trusting the CA and presenting its certificate, the replica serves.
    let (config, _dir) = with(Some(pki.ca()), Some(replica.clone()));
    let mut server = TestServer::start_with(config).await;
    let appended = server.client.append(append()).await.unwrap().into_inner();
    assert_eq!(appended.first_position, 0);
    assert_eq!(
        server.read_all().await.len(),
        appended.last_revision as usize + 1
    );
    server.stop().await;

    // Without a certificate the server refuses it; without the CA it trusts no server.
    let (config, _dir) = with(Some(pki.ca()), None);
    let without_certificate = refused_at_start(config).await;
    assert!(
        without_certificate.contains("cannot connect to NATS"),
        "{without_certificate}"
    );
    let (config, _dir) = with(None, Some(replica));
    let without_ca = refused_at_start(config).await;
    assert!(
        without_ca.contains("cannot connect to NATS"),
        "{without_ca}"
    );
}
