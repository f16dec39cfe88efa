//! A full disk, on a real small filesystem (`common::small_disk`), against the binary: the
//! log's records, the data keys in `keys/` and sled's small stores each meet a disk with no
//! room. Whatever fills, the refused request gets a status that names the disk, nothing
//! acknowledged is lost, reads go on, and once the filler is deleted (and the server restarted
//! where a store takes no writes after a failed one: the log, whose disk state is then
//! unknown, and sled) everything works again and the chain verifies.

mod requests;

use futures::TryStreamExt;
use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::expected_revision::Kind;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::proposed_event::Payload;
use relledger::api::proto::{self, ReadStreamRequest};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::common::binary::{health, sigterm, spawn_server};
use crate::common::events::*;
use crate::common::small_disk::SmallDisk;
use requests::*;

/// The records fill the disk: the append that meets it is refused naming the disk, the log
/// then refuses appends and reports NOT_SERVING, and reads, subscriptions (one that was
/// following the appends, and a new one) and the chain's verification go on. With room again
/// a restart recovers every acknowledged event, the refused batch's retry lands, and the chain
/// verifies online and offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_fill_the_disk_are_refused_and_nothing_acknowledged_is_lost() {
    let disk = SmallDisk::mount(DISK_BYTES);
    let data_dir = disk.root().join("data");
    let (child, url, mut acknowledged) = harbour_on(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let mut following = subscribe(&mut client).await;
    // Room for a few batches: the disk fills within seconds.
    let filler = disk.fill(3 * 1024 * 1024);

    let mut refused = None;
    for _ in 0..64 {
        let batch = large_batch();
        match answered(client.append(batch.clone())).await {
            Ok(_) => acknowledged.extend(ids(&batch)),
            Err(status) => {
                refused = Some((batch, status));
                break;
            }
        }
    }
    let (refused, status) = refused.expect("the disk fills up");
    refused_for_space(&status);
    assert!(status.message().contains("the log's records"), "{status:?}");
    let later = answered(client.append(large_batch())).await.unwrap_err();
    refused_for_space(&later);
    assert!(later.message().contains("restart"), "{later:?}");

    assert_eq!(stream_ids(&mut client).await, acknowledged, "ReadStream");
    assert_eq!(all_ids(&mut client).await, acknowledged, "ReadAll");
    let count = acknowledged.len();
    assert_eq!(delivered(&mut following, count).await, acknowledged);
    let mut new = subscribe(&mut client).await;
    assert_eq!(delivered(&mut new, count).await, acknowledged, "Subscribe");
    assert_eq!(verify_chain(&url).await, acknowledged.len() as u64);
    for service in ["relledger.v1.Ledger", ""] {
        let why = "the server reports NOT_SERVING once the log refuses appends";
        reports(&url, service, ServingStatus::NotServing, why).await;
    }

    std::fs::remove_file(filler).unwrap();
    sigterm(child).await;
    let (child, url) = spawn_server(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    assert_eq!(health(&url, "").await, ServingStatus::Serving as i32);
    // The refused batch may have reached the disk whole before the write failed, never in part.
    let recovered = stream_ids(&mut client).await;
    let survived = recovered.len() > acknowledged.len();
    let mut whole = acknowledged.clone();
    whole.extend(ids(&refused));
    assert!(
        recovered == acknowledged || recovered == whole,
        "every acknowledged event, and the refused batch whole or not at all"
    );
    let retried = client.append(refused.clone()).await.unwrap().into_inner();
    assert_eq!(retried.duplicate, survived);
    let more = large_batch();
    client.append(more.clone()).await.unwrap();
    whole.extend(ids(&more));
    assert_eq!(stream_ids(&mut client).await, whole);
    assert_eq!(verify_chain(&url).await, whole.len() as u64);
    sigterm(child).await;
    let report = verify_offline(&data_dir).await;
    assert!(
        report.starts_with(&format!("ok: {} records verified", whole.len())),
        "{report}"
    );
}

/// Personal data about a new contact needs a new data key, which a full disk cannot hold: the
/// append is refused naming the disk and writes nothing, while appends that need no new key
/// go on (the log writes into the space it prepared past its records, and the Ledger service
/// stays SERVING: no write of the log failed). With room again the retry lands without a
/// restart, and after one the contact's data is there and readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_key_the_full_disk_cannot_hold_refuses_its_append_and_nothing_else() {
    let disk = SmallDisk::mount(DISK_BYTES);
    let data_dir = disk.root().join("data");
    let (child, url, mut acknowledged) = harbour_on(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let filler = disk.fill(0);

    let zhang = PersonalData {
        name: "Zhang Wei",
        phone: "+86 21 5555 0199",
        email: "zhang.wei@example.com",
        notes: "prefers calls after the site visit",
    };
    let new_contact = append(
        Kind::Any(Default::default()),
        vec![event(10, contact_with("c2", &zhang))],
    );
    let status = answered(client.append(new_contact.clone()))
        .await
        .unwrap_err();
    refused_for_space(&status);
    assert!(status.message().contains("key"), "{status:?}");
    assert_eq!(stream_ids(&mut client).await, acknowledged);
    let keys: Vec<_> = std::fs::read_dir(data_dir.join("keys"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "c1's key only, and no half-made one: {keys:?}"
    );

    let no_key_needed = append(Kind::Exact(1), vec![event(11, call("c1"))]);
    answered(client.append(no_key_needed.clone()))
        .await
        .unwrap();
    acknowledged.extend(ids(&no_key_needed));
    // The server as a whole may say NOT_SERVING by now: the projector's writes to sled meet
    // the full disk too (see the next test).
    assert_eq!(
        health(&url, "relledger.v1.Ledger").await,
        ServingStatus::Serving as i32
    );

    std::fs::remove_file(filler).unwrap();
    let retried = client.append(new_contact.clone()).await.unwrap();
    assert!(!retried.into_inner().duplicate);
    acknowledged.extend(ids(&new_contact));
    sigterm(child).await;

    let (child, url) = spawn_server(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    assert_eq!(stream_ids(&mut client).await, acknowledged);
    let request = ReadStreamRequest {
        account_id: "harbour".into(),
        ..Default::default()
    };
    let records: Vec<proto::RecordedEvent> = client
        .read_stream(request)
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    let last = records.last().unwrap().event.clone().unwrap();
    let Some(Payload::ContactAdded(added)) = last.payload else {
        panic!("the last event adds c2: {last:?}");
    };
    assert_eq!(added.name, zhang.name, "sealed under a key that was kept");
    assert_eq!(verify_chain(&url).await, acknowledged.len() as u64);
    sigterm(child).await;
}

/// sled's small stores meet a full disk: a subscription's acknowledgement and a signed
/// checkpoint that cannot be made durable are refused naming the disk, not left hanging, and
/// the ones stored before are kept. sled then takes no write until it is reopened, so the server
/// reports NOT_SERVING, for an orchestrator to restart it, while appends and reads go on. With
/// room again and a restart both work, and the offline verification checks every checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_stores_on_a_full_disk_refuse_acks_and_checkpoints_and_lose_none() {
    let disk = SmallDisk::mount(DISK_BYTES);
    let data_dir = disk.root().join("data");
    let (child, url, _) = harbour_on(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let mut audit = AuditClient::connect(url.clone()).await.unwrap();
    let calls = append(
        Kind::Exact(1),
        (0..4).map(|i| event(10 + i, call("c1"))).collect(),
    );
    client.append(calls).await.unwrap();
    // Positions 0 to 5; "billing" has processed 1, and position 1 is signed.
    answered(client.ack_subscription(ack("billing", 1)))
        .await
        .unwrap();
    answered(audit.sign_checkpoint(sign_at(1))).await.unwrap();
    let filler = disk.fill(0);

    // sled may still have room in blocks it holds: acknowledgements of new names, each a
    // write to its log, meet the full disk within a few blocks.
    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..10_000 {
        let name = format!("consumer-{n:05}-{}", "x".repeat(100));
        match answered(client.ack_subscription(ack(&name, 2))).await {
            Ok(_) => stored.push(name),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("an acknowledgement meets the full disk");
    refused_for_space(&status);
    // The small stores failed, not the log: the message must not send the operator to it.
    assert!(status.message().contains("small stores"), "{status:?}");
    let status = answered(audit.sign_checkpoint(sign_at(4)))
        .await
        .unwrap_err();
    refused_for_space(&status);
    assert!(status.message().contains("small stores"), "{status:?}");
    let why = "the server reports NOT_SERVING once sled takes no writes";
    reports(&url, "", ServingStatus::NotServing, why).await;
    assert_eq!(
        health(&url, "relledger.v1.Ledger").await,
        ServingStatus::Serving as i32
    );
    assert_eq!(acked(&mut client, "billing").await, Some(1));
    assert_eq!(stream_ids(&mut client).await.len(), 6, "reads go on");

    std::fs::remove_file(filler).unwrap();
    // With room again, a store that still refuses must say that a restart is what it needs,
    // not that the disk is full.
    match answered(client.ack_subscription(ack("after-room", 2))).await {
        Ok(_) => stored.push("after-room".to_string()),
        Err(status) => assert!(status.message().contains("restarts"), "{status:?}"),
    }
    sigterm(child).await;
    let (child, url) = spawn_server(&data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let mut audit = AuditClient::connect(url.clone()).await.unwrap();
    assert_eq!(health(&url, "").await, ServingStatus::Serving as i32);
    assert_eq!(acked(&mut client, "billing").await, Some(1));
    for name in &stored {
        assert_eq!(acked(&mut client, name).await, Some(2), "{name}");
    }
    let moved = client.ack_subscription(ack("billing", 3)).await.unwrap();
    assert_eq!(moved.into_inner().position, 3);
    assert_eq!(acked(&mut client, "billing").await, Some(3));
    let signed = audit.sign_checkpoint(sign_at(4)).await.unwrap();
    assert_eq!(signed.into_inner().checkpoint.unwrap().position, 4);
    assert_eq!(verify_chain(&url).await, 6);
    sigterm(child).await;
    let report = verify_offline(&data_dir).await;
    assert!(
        report.contains("ok: 6 records verified") && !report.contains("; 0 signed checkpoints"),
        "{report}"
    );
}
