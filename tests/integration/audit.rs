//! Verifiable history: `relledger.v1.Audit` over gRPC, signed checkpoints, the export bundle
//! and its round trip, and the tamper tests: a flipped byte and two swapped records, made
//! directly in a stopped server's data dir (or in a bundle), are caught by `VerifyChain`,
//! `relledger verify`, the server at start-up and `verify-export`; a deleted record is refused
//! at open, and caught in a bundle.

use crate::common;
use crate::common::raw_log;
use crate::common::store as store_helpers;

use std::path::Path;
use std::sync::Arc;

use common::events::*;
use common::TestServer;
use futures::TryStreamExt;
use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{self, replay_response::Item};
use relledger::audit::import::{import_bundle, verify_bundle};
use relledger::audit::offline::{export_data_dir, verify_data_dir};
use relledger::audit::{
    checkpoint_message, verify_checkpoint_signature, Audit, AuditConfig, FullCheck, ReplayItem,
};
use relledger::config::Config;
use relledger::server::{OpenServer, ServeError};
use relledger::store::file::{log_path, FileLog};
use relledger::store::sled::sled_path;
use relledger::store::{
    Direction, ExpectedRevision, Log, MemoryLog, MemorySignedCheckpoints, ReadAllFilter,
    SignedCheckpointStore,
};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_relledger");

/// A config whose server signs only at start and on demand, so tests decide where the
/// checkpoints are.
fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.audit = AuditConfig {
        sign_every_records: u64::MAX,
        sign_every: std::time::Duration::from_secs(24 * 3600),
    };
    config
}

/// Appends five two-event batches to five accounts: positions 0 to 9.
async fn ten_records(server: &mut TestServer) {
    for account in ["harbour", "delta", "pearl", "summit", "orchid"] {
        server.append(account, opening(account)).await.unwrap();
    }
}

async fn audit_client(server: &TestServer) -> AuditClient<tonic::transport::Channel> {
    AuditClient::new(server.channel().await)
}

fn sha256(prev: &[u8], canonical: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical);
    hasher.finalize().to_vec()
}

/// Checks a wire checkpoint with nothing but ed25519-dalek and the documented message.
fn assert_signature_verifies(checkpoint: &proto::SignedCheckpoint) {
    let key = ed25519_dalek::VerifyingKey::from_bytes(
        checkpoint.public_key.as_slice().try_into().unwrap(),
    )
    .unwrap();
    let signed_at = checkpoint.signed_at.unwrap();
    let nanos = signed_at.seconds * 1_000_000_000 + i64::from(signed_at.nanos);
    let message = checkpoint_message(
        checkpoint.position,
        &relledger::domain::ChainHash(checkpoint.hash.as_slice().try_into().unwrap()),
        relledger::domain::Timestamp::from_unix_nanos(nanos),
        None,
    );
    assert_eq!(&message[..24], b"relledger checkpoint v1\0");
    let signature = ed25519_dalek::Signature::from_slice(&checkpoint.signature).expect("64 bytes");
    key.verify_strict(&message, &signature)
        .expect("the checkpoint signature verifies");
}

#[tokio::test]
async fn the_audit_service_verifies_signs_and_replays_with_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(config(dir.path())).await;
    let mut audit = audit_client(&server).await;

    let empty = audit
        .sign_checkpoint(proto::SignCheckpointRequest { position: None })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), tonic::Code::FailedPrecondition, "{empty:?}");
    ten_records(&mut server).await;

    let verified = audit
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, 10);
    let middle = audit
        .verify_chain(proto::VerifyChainRequest {
            from_position: 3,
            to_position: Some(6),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(middle.ok && middle.records_checked == 4, "{middle:?}");
    let past = audit
        .verify_chain(proto::VerifyChainRequest {
            from_position: 0,
            to_position: Some(10),
        })
        .await
        .unwrap_err();
    assert_eq!(past.code(), tonic::Code::OutOfRange);

    let head = audit
        .get_chain_head(proto::GetChainHeadRequest {})
        .await
        .unwrap()
        .into_inner();
    let records = server.read_all().await;
    assert_eq!(head.record_count, 10);
    assert_eq!(head.head_position, Some(9));
    assert_eq!(head.head_hash, records[9].hash);

    let key = audit
        .get_signing_key(proto::GetSigningKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let on_disk = relledger::audit::key::load(dir.path()).unwrap();
    assert_eq!(key.public_key, on_disk.verifying_key().to_bytes());
    assert_eq!(key.public_key_hex, hex::encode(&key.public_key));

    let signed = audit
        .sign_checkpoint(proto::SignCheckpointRequest { position: Some(4) })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!((signed.position, &signed.hash), (4, &records[4].hash));
    assert_eq!(signed.public_key, key.public_key);
    assert_signature_verifies(&signed);
    let again = audit
        .sign_checkpoint(proto::SignCheckpointRequest { position: Some(4) })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(
        again, signed,
        "a signed position answers its stored checkpoint"
    );
    let head_signed = audit
        .sign_checkpoint(proto::SignCheckpointRequest { position: None })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(head_signed.position, 9);
    let latest = audit
        .get_chain_head(proto::GetChainHeadRequest {})
        .await
        .unwrap()
        .into_inner()
        .latest_checkpoint;
    assert_eq!(latest, Some(head_signed.clone()));

    let items: Vec<_> = audit
        .replay(proto::ReplayRequest {
            from_position: 2,
            to_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    let mut last: Option<proto::RecordedEvent> = None;
    let mut positions = Vec::new();
    for item in items.into_iter().map(|i| i.item.unwrap()) {
        match item {
            Item::Record(record) => {
                let event = record.event.unwrap();
                assert_eq!(event.hash, sha256(&event.prev_hash, &record.canonical));
                assert_eq!(event, records[event.position as usize]);
                positions.push(event.position);
                last = Some(event);
            }
            Item::Checkpoint(checkpoint) => {
                let record = last.as_ref().expect("a checkpoint follows its record");
                assert_eq!(checkpoint.position, record.position);
                assert_eq!(checkpoint.hash, record.hash);
                assert_signature_verifies(&checkpoint);
                positions.push(1000 + checkpoint.position);
            }
        }
    }
    assert_eq!(positions, [2, 3, 4, 1004, 5, 6, 7, 8, 9, 1009]);
    server.stop().await;
}

#[tokio::test]
async fn an_export_imported_elsewhere_is_the_same_log_with_the_same_projections() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(config(dir.path())).await;
    ten_records(&mut server).await;
    server
        .append("harbour", vec![event(30, visit(&["c1"]))])
        .await
        .unwrap();
    let before = relationship(&server).await;
    let key = relledger::audit::key::load(dir.path())
        .unwrap()
        .verifying_key();
    server.stop().await;

    let bundle = dir.path().join("full.ndjson");
    let file = std::fs::File::create(&bundle).unwrap();
    let summary = export_data_dir(&dir.path().join("."), file, 0, None, &mut |_, _| {}).unwrap();
    assert_eq!(summary.records, 11);
    assert_eq!(
        summary.covered_to,
        Some(10),
        "the export signs its last record"
    );
    let verified = verify_bundle(&bundle, Some(key), &mut |_, _| {}).unwrap();
    assert_eq!(verified.covered_to, Some(10));
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let error = verify_bundle(&bundle, Some(stranger), &mut |_, _| {}).unwrap_err();
    assert!(error.to_string().contains("no checkpoint"), "{error}");

    let restored = tempfile::tempdir().unwrap();
    let (_, head) = import_bundle(restored.path(), &bundle, Some(key), &mut |_, _| {}).unwrap();
    assert_eq!(head.next_position, 11);
    let again = import_bundle(restored.path(), &bundle, None, &mut |_, _| {}).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");

    let records = |path: &Path| {
        let log = FileLog::open(path).unwrap();
        async move {
            let records: Vec<_> = log
                .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
                .try_collect()
                .await
                .unwrap();
            records
        }
    };
    let original = records(dir.path()).await;
    assert_eq!(
        records(restored.path()).await,
        original,
        "same records, same hashes"
    );

    let report = verify_data_dir(restored.path(), &mut |_, _| {}).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        report.checkpoints, 1,
        "the exporter's checkpoint came along"
    );
    let mut server = TestServer::start_with(config(restored.path())).await;
    assert_eq!(relationship(&server).await, before, "same projection");
    // The restored log takes new appends on top of the restored history.
    server
        .append("delta", vec![event(40, visit(&["c1"]))])
        .await
        .unwrap();
    let mut audit = audit_client(&server).await;
    let verified = audit
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        verified.ok && verified.records_checked == 12,
        "{verified:?}"
    );
    server.stop().await;
}

/// Harbour's relationship as of position 10.
async fn relationship(server: &TestServer) -> proto::GetRelationshipResponse {
    RelationshipsClient::new(server.channel().await)
        .get_relationship(proto::GetRelationshipRequest {
            account_id: "harbour".into(),
            as_of: Some(proto::get_relationship_request::AsOf::AsOfPosition(10)),
            known_at_time: None,
            max_contributions: None,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The three ways of tampering with the stored log.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    /// Flip one byte of the body of the record at 5.
    Flip,
    /// Delete the record at 5.
    Delete,
    /// Swap the records at 4 and 5.
    Swap,
}

impl Tamper {
    /// The tampering that keeps the number of records, so that the log opens and the chain
    /// is what catches it. A deleted record shortens the files below what the index covers,
    /// which the open refuses (`a_record_deleted_from_a_stopped_log_is_refused_at_open`).
    const KEEPING_COUNT: [Tamper; 2] = [Tamper::Flip, Tamper::Swap];
    const ALL: [Tamper; 3] = [Tamper::Flip, Tamper::Delete, Tamper::Swap];

    /// The first position a verification must report.
    fn first_bad(self) -> u64 {
        match self {
            Tamper::Flip | Tamper::Delete => 5,
            Tamper::Swap => 4,
        }
    }

    /// Tampers with the stopped log in `dir`, in its record files directly, rewriting their
    /// checksums as an attacker would.
    fn apply(self, dir: &Path) {
        let mut values = raw_log::stored_values(dir);
        match self {
            Tamper::Flip => {
                let at = values[5].len() - 20;
                values[5][at] ^= 0x01;
            }
            Tamper::Delete => {
                values.remove(5);
            }
            Tamper::Swap => values.swap(4, 5),
        }
        raw_log::rewrite(dir, &values);
    }

    /// Tampers with the record lines of a bundle the same way; returns the line number a
    /// verification must name.
    fn apply_to_bundle(self, bundle: &Path) -> usize {
        let text = std::fs::read_to_string(bundle).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Line 1 is the header, so the record at position p is on line p + 2 (no checkpoint
        // line comes before position 9).
        let index = |position: usize| position + 1;
        match self {
            Tamper::Flip => {
                let line = &mut lines[index(5)];
                *line = line
                    .replacen("visit", "visiT", 1)
                    // The contact's name is sealed (ciphertext in the bundle), so flip a byte
                    // of its title, which is kept in clear.
                    .replacen("chief engineer", "chief engineeR", 1);
            }
            Tamper::Delete => {
                lines.remove(index(5));
            }
            Tamper::Swap => lines.swap(index(4), index(5)),
        }
        std::fs::write(bundle, lines.join("\n") + "\n").unwrap();
        self.first_bad() as usize + 2
    }
}

/// A stopped server's data dir holding positions 0 to 9, signed (if `signed_to`) up to there.
async fn stopped_dir(signed_to: Option<u64>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(config(dir.path())).await;
    ten_records(&mut server).await;
    if let Some(position) = signed_to {
        audit_client(&server)
            .await
            .sign_checkpoint(proto::SignCheckpointRequest {
                position: Some(position),
            })
            .await
            .unwrap();
    }
    server.stop().await;
    dir
}

#[tokio::test]
async fn tampering_after_the_last_signature_is_refused_at_start_and_reported_by_verify() {
    for tamper in Tamper::KEEPING_COUNT {
        let dir = stopped_dir(Some(2)).await;
        tamper.apply(dir.path());

        let report = verify_data_dir(dir.path(), &mut |_, _| {}).unwrap();
        let broken = report.broken.expect("verify finds the break");
        assert_eq!(broken.position, tamper.first_bad(), "{tamper:?}: {broken}");
        assert_eq!(report.records_checked, tamper.first_bad());

        match OpenServer::open(config(dir.path())) {
            Err(ServeError::Audit(error)) => {
                let message = error.to_string();
                assert!(
                    message.contains(&format!("position {}", tamper.first_bad()))
                        && message.contains("corrupt"),
                    "{tamper:?}: {message}"
                );
            }
            Err(other) => panic!("{tamper:?}: refused for another reason: {other}"),
            Ok(_) => panic!("{tamper:?}: the server started on a tampered log"),
        }

        let out = std::io::sink();
        let error = export_data_dir(dir.path(), out, 0, None, &mut |_, _| {}).unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!("position {}", tamper.first_bad())),
            "{tamper:?}: {error:#}"
        );
    }
}

#[tokio::test]
async fn a_record_deleted_from_a_stopped_log_is_refused_at_open() {
    let dir = stopped_dir(Some(9)).await;
    Tamper::Delete.apply(dir.path());
    let refused = |message: String| {
        assert!(
            message.contains("lost or changed") && message.contains("covers 10 records"),
            "{message}"
        )
    };
    match OpenServer::open(config(dir.path())) {
        Err(error) => refused(error.to_string()),
        Ok(_) => panic!("the server started on a log missing a record"),
    }
    refused(format!(
        "{:#}",
        verify_data_dir(dir.path(), &mut |_, _| {}).unwrap_err()
    ));
}

#[tokio::test]
async fn tampering_before_the_last_signature_is_found_by_the_background_check() {
    for tamper in Tamper::KEEPING_COUNT {
        let dir = stopped_dir(Some(9)).await;
        tamper.apply(dir.path());

        // The tail since the checkpoint is intact, so the cheap start-up check passes...
        let log = FileLog::open(dir.path()).unwrap();
        let signed = Arc::new(log.signed_checkpoints().unwrap());
        let audit = Arc::new(
            Audit::open(Arc::new(log), signed, dir.path(), config(dir.path()).audit).unwrap(),
        );
        // ...but VerifyChain and the whole-chain check find the break,
        let report = audit.verify_chain(0, None).await.unwrap();
        let broken = report.broken.expect("VerifyChain finds the break");
        assert_eq!(broken.position, tamper.first_bad(), "{tamper:?}: {broken}");
        let checking = Arc::clone(&audit);
        let full = tokio::task::spawn_blocking(move || checking.check_fully())
            .await
            .unwrap();
        assert!(
            matches!(&full, FullCheck::Broken(b) if b.position == tamper.first_bad()),
            "{tamper:?}: {full:?}"
        );
        // ...and from then on nothing at or past it is signed.
        let refused = audit.sign(Some(8)).await.unwrap_err();
        assert!(
            refused.to_string().contains("nothing was signed"),
            "{tamper:?}: {refused}"
        );
        drop(audit);

        let report = verify_data_dir(dir.path(), &mut |_, _| {}).unwrap();
        assert_eq!(report.broken.map(|b| b.position), Some(tamper.first_bad()));
    }
}

#[tokio::test]
async fn verify_export_names_the_first_bad_line_of_a_tampered_bundle() {
    let dir = stopped_dir(None).await;
    let bundle = dir.path().join("full.ndjson");
    let file = std::fs::File::create(&bundle).unwrap();
    export_data_dir(dir.path(), file, 0, None, &mut |_, _| {}).unwrap();
    verify_bundle(&bundle, None, &mut |_, _| {}).unwrap();

    for tamper in Tamper::ALL {
        let copy = dir.path().join(format!("{tamper:?}.ndjson"));
        std::fs::copy(&bundle, &copy).unwrap();
        let line = tamper.apply_to_bundle(&copy);
        let error = verify_bundle(&copy, None, &mut |_, _| {}).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!("line {line}:")),
            "{tamper:?}: {error:#}"
        );
        let restored = tempfile::tempdir().unwrap();
        import_bundle(restored.path(), &copy, None, &mut |_, _| {}).unwrap_err();
        assert!(
            !sled_path(restored.path()).exists() && !log_path(restored.path()).exists(),
            "a refused import writes no log"
        );

        let out = std::process::Command::new(BIN)
            .arg("verify-export")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{tamper:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: line {line}:")),
            "{tamper:?}: {stderr}"
        );
    }
}

/// The binary as an operator and an auditor run it: `key`, `export --server`, `verify-export
/// --public-key`, `import`, `verify`, `as-of`, and `serve` and `verify` on a tampered dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_commands_round_trip_and_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(config(dir.path())).await;
    ten_records(&mut server).await;
    let url = format!("http://{}", server.address);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let data_dir = dir.path().to_str().unwrap().to_string();
    let bundle = dir.path().join("range.ndjson");
    let bundle = bundle.to_str().unwrap();

    let (ok, key, _) = run(&["key", "--data-dir", &data_dir]);
    assert!(ok && key.trim().len() == 64, "{key}");
    let (ok, _, stderr) = run(&[
        "export", "--server", &url, "--output", bundle, "--from", "3", "--to", "7",
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("exported 5 records"), "{stderr}");
    let (ok, stdout, stderr) = run(&["verify-export", bundle, "--public-key", key.trim()]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("every record is covered by a signed checkpoint"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&["as-of", "harbour", "--position", "1", "--server", &url]);
    assert!(ok, "{stderr}");
    let relationship: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(relationship["accountId"], "harbour");
    let (ok, _, stderr) = run(&["verify", "--data-dir", &data_dir]);
    assert!(!ok && stderr.contains("locked"), "{stderr}");
    server.stop().await;

    let full = dir.path().join("full.ndjson");
    let full = full.to_str().unwrap();
    let (ok, _, stderr) = run(&["export", "--data-dir", &data_dir, "--output", full]);
    assert!(ok, "{stderr}");
    let restored = tempfile::tempdir().unwrap();
    let restored = restored.path().to_str().unwrap();
    let (ok, _, stderr) = run(&[
        "import",
        "--data-dir",
        restored,
        full,
        "--public-key",
        key.trim(),
    ]);
    assert!(ok && stderr.contains("imported 10 records"), "{stderr}");
    let (ok, stdout, stderr) = run(&["verify", "--data-dir", restored]);
    assert!(
        ok && stdout.starts_with("ok: 10 records"),
        "{stdout}{stderr}"
    );
    let (ok, _, stderr) = run(&["import", "--data-dir", restored, full]);
    assert!(!ok && stderr.contains("not empty"), "{stderr}");

    Tamper::Flip.apply(Path::new(restored));
    let (ok, _, stderr) = run(&["verify", "--data-dir", restored]);
    assert!(!ok && stderr.contains("position 5"), "{stderr}");
    // A dir tampered after its last signature is refused at start, in one line.
    let tampered = stopped_dir(Some(2)).await;
    Tamper::Flip.apply(tampered.path());
    let tampered = tampered.path().to_str().unwrap();
    let (ok, stdout, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", tampered]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("position 5"), "{stderr}");
}

/// The audit needs only the store's traits: over the in-memory log and checkpoint store it
/// signs the head, stores the checkpoint, verifies the chain and replays it with its proof, and
/// a reopened audit starts from that checkpoint.
#[tokio::test]
async fn the_audit_runs_over_the_memory_backend() {
    let key_dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    let signed = Arc::new(MemorySignedCheckpoints::new());
    for name in ["harbour", "delta", "pearl"] {
        let account = store_helpers::account(name);
        log.append(&account, ExpectedRevision::Any, store_helpers::calls(4))
            .await
            .unwrap();
    }
    let open = |log: &Arc<MemoryLog>, signed: &Arc<MemorySignedCheckpoints>| {
        let (log, signed): (Arc<dyn Log>, Arc<dyn SignedCheckpointStore>) =
            (log.clone(), signed.clone());
        Arc::new(Audit::open(log, signed, key_dir.path(), config(key_dir.path()).audit).unwrap())
    };
    let audit = open(&log, &signed);
    let head = log.head();
    assert_eq!(head.next_position, 12);

    let checkpoint = audit.sign(None).await.unwrap();
    assert_eq!(checkpoint.position, 11);
    assert_eq!(checkpoint.hash, head.last_hash);
    assert_eq!(checkpoint.public_key, audit.public_key().to_bytes());
    assert_eq!(verify_checkpoint_signature(&checkpoint), Ok(()));
    // Stored in the memory store, and answered again rather than signed twice.
    assert_eq!(
        signed.get(11, &checkpoint.public_key).unwrap(),
        Some(checkpoint.clone())
    );
    assert_eq!(audit.sign(Some(11)).await.unwrap(), checkpoint);

    let report = audit.verify_chain(0, None).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records_checked, 12);
    assert_eq!(report.last_hash, head.last_hash);
    let tail = audit.verify_chain(5, Some(8)).await.unwrap();
    assert_eq!((tail.broken, tail.records_checked), (None, 4));
    let full = tokio::task::spawn_blocking({
        let audit = Arc::clone(&audit);
        move || audit.check_fully()
    })
    .await
    .unwrap();
    assert_eq!(full, FullCheck::Intact { records: 12 });

    // The replay carries every record with the bytes its hash covers, then the checkpoint.
    let items: Vec<ReplayItem> = audit.replay(0, None).unwrap().try_collect().await.unwrap();
    assert_eq!(items.len(), 13);
    let mut prev = relledger::domain::ChainHash::GENESIS;
    for item in &items[..12] {
        let ReplayItem::Record { record, canonical } = item else {
            panic!("a record was expected, got {item:?}")
        };
        assert_eq!(record.prev_hash, prev);
        assert_eq!(sha256(&prev.0, canonical), record.hash.0);
        prev = record.hash;
    }
    assert_eq!(items[12], ReplayItem::Checkpoint(checkpoint.clone()));
    // A page of an empty range is empty, however its ends are given.
    assert_eq!(audit.replay_page(0, 0).unwrap(), Vec::new());
    assert_eq!(audit.replay_page(5, 0).unwrap(), Vec::new());
    assert_eq!(audit.replay_page(12, 12).unwrap(), Vec::new());

    // A second audit over the same stores (a restart) finds the checkpoint and starts there.
    drop(audit);
    let reopened = open(&log, &signed);
    assert_eq!(
        tokio::task::spawn_blocking(move || reopened.latest_checkpoint())
            .await
            .unwrap()
            .unwrap(),
        Some(checkpoint)
    );
}
