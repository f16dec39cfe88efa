//! Forgetting a contact (crypto-shredding) against a real server: personal fields are sealed
//! before they reach the disk, `ForgetContact` destroys the contact's key, and from then on
//! every read shows the fields erased while the chain verifies and the projection is unchanged;
//! after a restart, no byte of the erased text is anywhere in the data dir.

use crate::common;
use crate::common::subscribe as subscribe_helpers;

use std::path::Path;

use common::binary::{spawn_server, BIN};
use common::events::*;
use common::{read_stream, TestServer};
use futures::TryStreamExt;
use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::proposed_event::Payload;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{self, replay_response::Item, RecordedEvent};
use subscribe_helpers::{from_start, open, subscribe_request, Seen};
use tonic::Code;

const ACCOUNT: &str = "harbour";
/// The contact who asks to be forgotten.
const FORGOTTEN: &str = "c-0042";
/// A contact of the same account who does not.
const KEPT: &str = "c-0043";

const FORGOTTEN_DATA: PersonalData = PersonalData {
    name: "Qorvath Yzmirelle",
    phone: "+86 139 0471 88231",
    email: "qorvath.yzmirelle@harbour-example.cn",
    notes: "collects Qing snuff bottles, plays weiqi on Thursdays",
};
const RELATIONSHIP: &str = "rowing teammates at Xuyi college";
const INTRO_NOTES: &str = "met again at the Jiaxing cement fair";

const KEPT_DATA: PersonalData = PersonalData {
    name: "Brontaq Wenlixa",
    phone: "+86 21 6666 93017",
    email: "brontaq.wenlixa@harbour-example.cn",
    notes: "prefers calls after lunch",
};

/// Every personal string about the forgotten contact: each occurs nowhere else, so finding one
/// in a file means it leaked.
fn forgotten_secrets() -> [&'static str; 6] {
    [
        FORGOTTEN_DATA.name,
        FORGOTTEN_DATA.phone,
        FORGOTTEN_DATA.email,
        FORGOTTEN_DATA.notes,
        RELATIONSHIP,
        INTRO_NOTES,
    ]
}

/// An account with two contacts with personal data, an introduction to the one who will be
/// forgotten, and the business that scores them.
fn story() -> Vec<proto::ProposedEvent> {
    vec![
        event(0, account_opened("Harbour Construction")),
        event(1, contact_with(FORGOTTEN, &FORGOTTEN_DATA)),
        event(2, contact_with(KEPT, &KEPT_DATA)),
        event(3, introduction_with(FORGOTTEN, RELATIONSHIP, INTRO_NOTES)),
        event(60, visit(&[FORGOTTEN, KEPT])),
        event(120, promise_made("p1", FORGOTTEN)),
        event(180, promise_kept("p1")),
        event(240, favor(FORGOTTEN, proto::FavorKind::Meal, 30_000)),
        event(300, order_won("o1", 50_000_000, 4_000_000)),
    ]
}

fn forget_request(contact_id: &str) -> proto::ForgetContactRequest {
    proto::ForgetContactRequest {
        account_id: ACCOUNT.to_string(),
        contact_id: contact_id.to_string(),
        reason: "erasure request 2026-117".to_string(),
        actor: "dpo.chen".to_string(),
    }
}

async fn forget(
    server: &mut TestServer,
    request: proto::ForgetContactRequest,
) -> Result<proto::ForgetContactResponse, tonic::Status> {
    server
        .client
        .forget_contact(request)
        .await
        .map(|r| r.into_inner())
}

async fn account_stream(server: &mut TestServer) -> Vec<RecordedEvent> {
    read_stream(
        &mut server.client,
        proto::ReadStreamRequest {
            account_id: ACCOUNT.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect("read stream")
}

/// The relationship judged at a fixed instant after every event (the forgetting included), so
/// two answers differ only if the events they count do. `events_counted` and `last_revision`
/// count the `contact_forgotten` record itself, so they are cleared for the comparison.
async fn relationship(server: &TestServer) -> proto::Relationship {
    let mut client = RelationshipsClient::new(server.channel().await);
    let mut relationship = client
        .get_relationship(proto::GetRelationshipRequest {
            account_id: ACCOUNT.to_string(),
            as_of: Some(proto::get_relationship_request::AsOf::AsOfTime(
                // 2027-01-01, after the story (2026-10). The forgetting is dated by the
                // server's clock: counted when before this instant, left out when after, and
                // either way it must change nothing.
                pbjson_types::Timestamp {
                    seconds: 1_798_761_600,
                    nanos: 0,
                },
            )),
            known_at_time: None,
            max_contributions: None,
        })
        .await
        .expect("get relationship")
        .into_inner()
        .relationship
        .expect("a relationship");
    relationship.events_counted = 0;
    relationship.last_revision = None;
    relationship
}

/// The `contact_added` payload of `contact_id` in `records`, with the record's erased fields.
fn contact_added<'a>(
    records: &'a [RecordedEvent],
    contact_id: &str,
) -> (&'a proto::ContactAdded, &'a [String]) {
    records
        .iter()
        .find_map(|r| match r.event.as_ref()?.payload.as_ref()? {
            Payload::ContactAdded(c) if c.contact_id == contact_id => {
                Some((c, r.erased_fields.as_slice()))
            }
            _ => None,
        })
        .expect("the contact_added record")
}

fn introduction(records: &[RecordedEvent]) -> (&proto::IntroductionMade, &[String]) {
    records
        .iter()
        .find_map(|r| match r.event.as_ref()?.payload.as_ref()? {
            Payload::IntroductionMade(i) => Some((i, r.erased_fields.as_slice())),
            _ => None,
        })
        .expect("the introduction record")
}

/// Asserts what every read path must show once the contact is forgotten: their personal fields
/// empty and listed as erased, everything else (and the other contact) as appended.
fn assert_erased(records: &[RecordedEvent], path: &str) {
    let (forgotten, erased) = contact_added(records, FORGOTTEN);
    assert_eq!(
        (
            forgotten.name.as_str(),
            forgotten.phone.as_str(),
            forgotten.email.as_str(),
            forgotten.notes.as_str()
        ),
        ("", "", "", ""),
        "{path}: the forgotten contact's fields read empty"
    );
    assert_eq!(
        erased,
        [
            "contact_added.name",
            "contact_added.phone",
            "contact_added.email",
            "contact_added.notes"
        ],
        "{path}"
    );
    assert_eq!(
        forgotten.title, "project manager",
        "{path}: not personal, kept"
    );
    assert_eq!(
        forgotten.role,
        proto::ContactRole::DecisionMaker as i32,
        "{path}"
    );
    let (intro, erased) = introduction(records);
    assert_eq!(
        (intro.relationship.as_str(), intro.notes.as_str()),
        ("", ""),
        "{path}"
    );
    assert_eq!(
        erased,
        ["introduction_made.relationship", "introduction_made.notes"],
        "{path}"
    );
    assert_eq!(
        intro.introduced_by, KEPT,
        "{path}: about the introducer, kept"
    );
    assert_kept_in_clear(records, path);
}

fn assert_kept_in_clear(records: &[RecordedEvent], path: &str) {
    let (kept, erased) = contact_added(records, KEPT);
    assert_eq!(
        (
            kept.name.as_str(),
            kept.phone.as_str(),
            kept.email.as_str(),
            kept.notes.as_str()
        ),
        (
            KEPT_DATA.name,
            KEPT_DATA.phone,
            KEPT_DATA.email,
            KEPT_DATA.notes
        ),
        "{path}: a contact not forgotten reads in clear"
    );
    assert!(erased.is_empty(), "{path}");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The `(file, text)` pairs where one of `texts` occurs in a raw file under `dir`.
fn leaks(dir: &Path, texts: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        for text in texts {
            if bytes.windows(text.len()).any(|w| w == text.as_bytes()) {
                found.push((file.display().to_string(), text.to_string()));
            }
        }
    }
    found
}

async fn verify_chain(server: &TestServer) -> proto::VerifyChainResponse {
    AuditClient::new(server.channel().await)
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .expect("verify chain")
        .into_inner()
}

#[tokio::test]
async fn a_forgotten_contact_is_erased_from_every_read_and_every_byte_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append(ACCOUNT, story()).await.unwrap();

    // Before: the fields read back as appended, and the projection is what it is.
    let before = account_stream(&mut server).await;
    let (added, erased) = contact_added(&before, FORGOTTEN);
    assert_eq!(added.name, FORGOTTEN_DATA.name);
    assert_eq!(added.notes, FORGOTTEN_DATA.notes);
    assert!(erased.is_empty());
    assert_eq!(introduction(&before).0.relationship, RELATIONSHIP);
    let relationship_before = relationship(&server).await;

    let forgotten = forget(&mut server, forget_request(FORGOTTEN))
        .await
        .expect("forget");
    assert!(!forgotten.already_forgotten);
    assert_eq!(forgotten.position, before.len() as u64);

    // Every read path shows the fields erased.
    let stream = account_stream(&mut server).await;
    assert_erased(&stream, "ReadStream");
    let last = stream.last().unwrap();
    assert_eq!(last.event_type, "contact_forgotten");
    assert_eq!(last.position, forgotten.position);
    let Some(Payload::ContactForgotten(event)) = last.event.as_ref().unwrap().payload.as_ref()
    else {
        panic!("the last event is the forgetting");
    };
    assert_eq!(event.contact_id, FORGOTTEN);
    assert_eq!(event.reason, "erasure request 2026-117");
    assert_eq!(last.event.as_ref().unwrap().actor, "dpo.chen");

    let all = server.read_all().await;
    assert_erased(&all, "ReadAll");
    common::assert_chain_links(&all);

    let mut subscription = open(&mut server.client, subscribe_request(from_start())).await;
    let mut seen = Seen::default();
    while seen.caught_up == 0 {
        seen.record(subscription.message().await.unwrap().expect("a message"));
    }
    assert_erased(&seen.events, "Subscribe");

    let replayed: Vec<proto::ReplayResponse> = AuditClient::new(server.channel().await)
        .replay(proto::ReplayRequest::default())
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    let mut replayed_records = Vec::new();
    for item in replayed.into_iter().filter_map(|r| r.item) {
        if let Item::Record(record) = item {
            let canonical = String::from_utf8(record.canonical).unwrap();
            for secret in forgotten_secrets().into_iter().chain([KEPT_DATA.name]) {
                assert!(
                    !canonical.contains(secret),
                    "the canonical bytes carry ciphertext only: {canonical}"
                );
            }
            replayed_records.push(record.event.unwrap());
        }
    }
    assert_erased(&replayed_records, "Audit.Replay");

    // The chain verifies, and the projection did not move.
    let verified = verify_chain(&server).await;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, forgotten.position + 1);
    assert_eq!(relationship(&server).await, relationship_before);

    // After a restart: the key is still gone, the other contact's is still there.
    drop(subscription);
    server.stop().await;
    let mut server = TestServer::start(dir.path()).await;
    assert_erased(
        &account_stream(&mut server).await,
        "ReadStream after a restart",
    );
    assert!(verify_chain(&server).await.ok);
    assert_eq!(relationship(&server).await, relationship_before);
    server.stop().await;

    // No byte of the erased text is in any file of the data dir; nor, sealed at rest, is the
    // text of the contact not forgotten.
    let mut secrets = forgotten_secrets().to_vec();
    secrets.extend([
        KEPT_DATA.name,
        KEPT_DATA.phone,
        KEPT_DATA.email,
        KEPT_DATA.notes,
    ]);
    assert!(
        files_under(dir.path()).len() > 3,
        "the walk sees the data dir"
    );
    assert_eq!(leaks(dir.path(), &secrets), vec![]);

    // The offline check of the stopped server's dir agrees.
    let out = std::process::Command::new(BIN)
        .args(["verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "relledger verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn forgetting_an_unknown_account_or_contact_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append(ACCOUNT, story()).await.unwrap();
    let head = server.read_all().await.len();

    let mut unknown_account = forget_request(FORGOTTEN);
    unknown_account.account_id = "nobody".to_string();
    let status = forget(&mut server, unknown_account).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("nobody"), "{}", status.message());

    let status = forget(&mut server, forget_request("c-9999"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("c-9999"), "{}", status.message());

    for (field, mutate) in [
        (
            "reason",
            (|r: &mut proto::ForgetContactRequest| r.reason.clear()) as fn(&mut _),
        ),
        ("contact_id", |r| r.contact_id.clear()),
        ("account_id", |r| r.account_id = "bad id!".to_string()),
    ] {
        let mut request = forget_request(FORGOTTEN);
        mutate(&mut request);
        let status = forget(&mut server, request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(field), "{}", status.message());
    }

    let all = server.read_all().await;
    assert_eq!(all.len(), head, "nothing was written");
    assert_kept_in_clear(&all, "after the refusals");
    let (added, erased) = contact_added(&all, FORGOTTEN);
    assert_eq!(added.name, FORGOTTEN_DATA.name, "no key was destroyed");
    assert!(erased.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn forgetting_twice_answers_the_first_forgetting_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append(ACCOUNT, story()).await.unwrap();
    let first = forget(&mut server, forget_request(FORGOTTEN))
        .await
        .unwrap();
    let head = server.read_all().await.len();

    let mut again = forget_request(FORGOTTEN);
    again.reason = "a second request".to_string();
    let second = forget(&mut server, again).await.unwrap();
    assert!(second.already_forgotten);
    assert_eq!(
        (second.position, second.revision),
        (first.position, first.revision)
    );
    assert_eq!(server.read_all().await.len(), head, "nothing was written");
    server.stop().await;
}

#[tokio::test]
async fn after_forgetting_personal_data_about_the_contact_is_refused_and_other_events_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append(ACCOUNT, story()).await.unwrap();
    forget(&mut server, forget_request(FORGOTTEN))
        .await
        .unwrap();
    let head = server.read_all().await.len();

    // Personal data about them: refused, naming the field, nothing written.
    for (payload, field) in [
        (
            introduction_with(FORGOTTEN, "", "new notes about them"),
            "events[0].introduction_made.notes",
        ),
        (
            contact_left_because(FORGOTTEN, "moved to Ningbo"),
            "events[0].contact_left.reason",
        ),
    ] {
        let status = server
            .append(ACCOUNT, vec![event(400, payload)])
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(field), "{}", status.message());
        assert!(
            status.message().contains("forgotten"),
            "{}",
            status.message()
        );
    }
    // A client cannot record a forgetting by itself: that would skip the key's destruction.
    let status = server
        .append(
            ACCOUNT,
            vec![event(
                400,
                Payload::ContactForgotten(proto::ContactForgotten {
                    contact_id: KEPT.to_string(),
                    reason: "not through ForgetContact".to_string(),
                }),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("events[0].contact_forgotten"),
        "{}",
        status.message()
    );
    assert_eq!(server.read_all().await.len(), head, "nothing was written");

    // Business events naming them go on, and so does their leaving without a reason.
    server
        .append(
            ACCOUNT,
            vec![
                event(400, visit(&[FORGOTTEN])),
                event(410, contact_left_because(FORGOTTEN, "")),
            ],
        )
        .await
        .expect("events without personal data about a forgotten contact are recorded");
    let stream = account_stream(&mut server).await;
    assert_eq!(stream.len(), head + 2);
    assert!(
        stream[head + 1].erased_fields.is_empty(),
        "nothing to erase"
    );
    assert_erased(&stream, "ReadStream");
    assert!(verify_chain(&server).await.ok);
    server.stop().await;
}

#[tokio::test]
async fn a_retried_append_with_personal_data_is_a_duplicate_and_a_changed_one_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let batch = story();
    let first = server.append(ACCOUNT, batch.clone()).await.unwrap();

    // Sealing is deterministic, so the retry's sealed content matches the stored record.
    let retry = server.append(ACCOUNT, batch.clone()).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.last_position, first.last_position);

    // The same id with another name is a reuse, not a retry.
    let mut changed = batch[1].clone();
    let Some(Payload::ContactAdded(added)) = changed.payload.as_mut() else {
        panic!("the story's second event adds the contact");
    };
    added.name = "Someone Else".to_string();
    let status = server.append(ACCOUNT, vec![changed]).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(server.read_all().await.len(), batch.len());
    server.stop().await;
}

#[tokio::test]
async fn a_refused_append_with_personal_data_creates_no_data_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let keys = |dir: &Path| {
        std::fs::read_dir(dir.join("keys"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    // The account was never opened: refused, and nothing at all is written.
    let status = server
        .append(
            ACCOUNT,
            vec![event(1, contact_with(FORGOTTEN, &FORGOTTEN_DATA))],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(keys(dir.path()), 0, "a refused request wrote a data key");
    assert!(server.read_all().await.is_empty());

    // Accepted, the same contact gets its key.
    server
        .append(
            ACCOUNT,
            vec![
                event(0, account_opened("Harbour Construction")),
                event(1, contact_with(FORGOTTEN, &FORGOTTEN_DATA)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(keys(dir.path()), 1);
    server.stop().await;
}

/// Runs a client subcommand of the binary against `url`, feeding it `stdin`.
async fn run_cli(url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .env("RELLEDGER_SERVER", url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// The binary as an operator runs it: `relledger forget`, then kill -9 straight after its
/// answer. The key's destruction and the event were durable before the answer, so the
/// restarted server reads the fields erased, `relledger verify` passes, and no file of the
/// data dir holds the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relledger_forget_is_durable_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_server(dir.path()).await;
    let lines: String = story()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    let out = run_cli(&url, &["append", "--account", ACCOUNT], &lines).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run_cli(
        &url,
        &[
            "forget",
            "--account",
            ACCOUNT,
            "--contact",
            FORGOTTEN,
            "--reason",
            "erasure request 2026-117",
        ],
        "",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["position"], story().len().to_string(), "{answer}");

    let unknown = run_cli(
        &url,
        &[
            "forget",
            "--account",
            ACCOUNT,
            "--contact",
            "c-9999",
            "--reason",
            "x",
        ],
        "",
    )
    .await;
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("NOT_FOUND"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let (mut child, url) = spawn_server(dir.path()).await;
    let out = run_cli(&url, &["read", "--account", ACCOUNT], "").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<RecordedEvent> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_erased(&read, "relledger read after kill -9");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    assert_eq!(leaks(dir.path(), &forgotten_secrets()), vec![]);
    let out = std::process::Command::new(BIN)
        .args(["verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "relledger verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An export carries the ciphertext the chain hashes and no key: it verifies offline, holds no
/// personal text, and a log restored from it reads every sealed field as erased (its keys
/// stayed behind) while its records, hashes and projection are the original's.
#[tokio::test]
async fn an_export_carries_only_ciphertext_and_a_restored_log_reads_it_erased() {
    use relledger::audit::import::{import_bundle, verify_bundle};
    use relledger::audit::offline::export_data_dir;

    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append(ACCOUNT, story()).await.unwrap();
    forget(&mut server, forget_request(FORGOTTEN))
        .await
        .unwrap();
    let original = server.read_all().await;
    let relationship_before = relationship(&server).await;
    server.stop().await;

    let exports = tempfile::tempdir().unwrap();
    let bundle = exports.path().join("ledger.ndjson");
    export_data_dir(
        dir.path(),
        std::fs::File::create(&bundle).unwrap(),
        0,
        None,
        &mut |_, _| {},
    )
    .unwrap();
    verify_bundle(&bundle, None, &mut |_, _| {}).unwrap();
    let mut secrets = forgotten_secrets().to_vec();
    secrets.push(KEPT_DATA.name);
    assert_eq!(leaks(exports.path(), &secrets), vec![]);

    let restored = tempfile::tempdir().unwrap();
    import_bundle(restored.path(), &bundle, None, &mut |_, _| {}).unwrap();
    let mut server = TestServer::start(restored.path()).await;
    let read = server.read_all().await;
    assert_eq!(read.len(), original.len());
    for (restored, original) in read.iter().zip(&original) {
        assert_eq!(
            (&restored.hash, restored.position),
            (&original.hash, original.position)
        );
    }
    let (kept, erased) = contact_added(&read, KEPT);
    assert_eq!(kept.name, "", "no key travelled with the bundle");
    assert_eq!(erased.len(), 4);
    assert_eq!(contact_added(&read, FORGOTTEN).1.len(), 4);
    assert!(verify_chain(&server).await.ok);
    assert_eq!(relationship(&server).await, relationship_before);
    server.stop().await;
}
