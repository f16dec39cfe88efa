//! Two relledger replicas on one JetStream cluster of three nodes (every message on all
//! three): a write through either is seen through both, at the same positions with the same
//! hashes; of concurrent appends expecting one revision, exactly one wins across replicas;
//! and both answer a relationship byte for byte alike.

use std::path::Path;

use prost::Message;
use relledger::api::proto::expected_revision::Kind;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::proposed_event::Payload;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{
    self, get_relationship_request, AckSubscriptionRequest, AppendRequest, ContactRole,
    ExpectedRevision, GetRelationshipRequest, ListSubscriptionsRequest, SubscribeRequest,
};
use relledger::config::Config;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Code;

use crate::common::binary::spawn_serve;
use crate::common::events::{
    account_opened, contact_added, event, promise_kept, promise_made, visit,
};
use crate::common::nats::Nats;
use crate::common::subscribe::{follow_until, from_start, open, subscribe_request, Seen};
use crate::common::TestServer;

async fn replica(nats: &Nats, dir: &Path) -> TestServer {
    let mut config = Config::new(dir);
    config.store = Some(nats.options());
    TestServer::start_with(config).await
}

/// A cluster of three nats-servers (every message on all three) and two replicas on it.
struct Pair {
    nats: Nats,
    a: TestServer,
    b: TestServer,
    /// The replicas' data dirs, `a`'s then `b`'s.
    dirs: [tempfile::TempDir; 2],
}

async fn pair() -> Pair {
    let nats = Nats::cluster(3).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = replica(&nats, dirs[0].path()).await;
    let b = replica(&nats, dirs[1].path()).await;
    Pair { nats, a, b, dirs }
}

/// Acme opened, with its decision maker `boss`, then `more`.
fn acme_with_boss(more: Vec<proto::ProposedEvent>) -> Vec<proto::ProposedEvent> {
    let mut events = vec![
        event(-60, account_opened("Acme")),
        event(-59, contact_added("boss", ContactRole::DecisionMaker)),
    ];
    events.extend(more);
    events
}

fn exact(revision: u64) -> Option<ExpectedRevision> {
    Some(ExpectedRevision {
        kind: Some(Kind::Exact(revision)),
    })
}

/// Everything a server has applied up to `last`, as a subscriber from the start sees it
/// through `client`.
async fn seen_through(client: &LedgerClient<Channel>, last: u64) -> Seen {
    let mut client = client.clone();
    let mut stream = open(&mut client, subscribe_request(from_start())).await;
    let (_target_tx, mut target) = watch::channel(Some(last));
    let mut seen = Seen::default();
    follow_until(&mut stream, &mut seen, &mut target).await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_one_ledger() {
    let Pair {
        nats: _nats,
        mut a,
        mut b,
        dirs: _dirs,
    } = pair().await;

    // Writes through both; each replica reads its own write at once.
    a.append("acme", acme_with_boss(vec![])).await.unwrap();
    let through_b = b
        .client
        .append(AppendRequest {
            account_id: "acme".into(),
            expected_revision: exact(1),
            events: vec![event(-30, visit(&["boss"]))],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(through_b.first_revision, 2);
    assert_eq!(through_b.first_position, 2);
    assert_eq!(b.read_all().await.len(), 3);

    // Concurrent appends expecting revision 2, through both replicas: one wins.
    let mut racing = Vec::new();
    for i in 0..10 {
        let mut client = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        racing.push(tokio::spawn(async move {
            client
                .append(AppendRequest {
                    account_id: "acme".into(),
                    expected_revision: exact(2),
                    events: vec![event(-20 + i, promise_made(&format!("p{i}"), "boss"))],
                })
                .await
        }));
    }
    let mut won = 0;
    for race in racing {
        match race.await.unwrap() {
            Ok(answer) => {
                won += 1;
                assert_eq!(answer.into_inner().first_revision, 3);
            }
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert_eq!(won, 1);

    // Both replicas hold the same four records, in the same order, with the same hashes.
    let last = 3;
    let (on_a, on_b) = (
        seen_through(&a.client, last).await,
        seen_through(&b.client, last).await,
    );
    let chain = |seen: &Seen| -> Vec<(u64, Vec<u8>, String)> {
        seen.events
            .iter()
            .map(|r| {
                (
                    r.position,
                    r.hash.clone(),
                    r.event.as_ref().unwrap().event_id.clone(),
                )
            })
            .collect()
    };
    assert_eq!(chain(&on_a).len(), 4);
    assert_eq!(chain(&on_a), chain(&on_b));

    // The same question gets the same bytes from either replica.
    let question = GetRelationshipRequest {
        account_id: "acme".into(),
        as_of: Some(get_relationship_request::AsOf::AsOfPosition(last)),
        ..Default::default()
    };
    let mut answers = Vec::new();
    for server in [&a, &b] {
        let mut client = RelationshipsClient::new(server.channel().await);
        let answer: proto::GetRelationshipResponse = client
            .get_relationship(question.clone())
            .await
            .unwrap()
            .into_inner();
        answers.push(answer.encode_to_vec());
    }
    assert_eq!(answers[0], answers[1]);
    a.stop().await;
    b.stop().await;
}

/// A message expecting `account` at revision `expected`, published straight to the stream as
/// another writer could: every replica decides it the same way, at its place in the stream.
async fn publish_expecting(nats: &Nats, account: &str, expected: u64) {
    let event = relledger::domain::ProposedEvent {
        event_id: relledger::domain::EventId::new_random(),
        occurred_at: relledger::domain::Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        actor: "intruder".into(),
        metadata: Default::default(),
        payload: relledger::domain::EventPayload::AccountOpened(relledger::domain::AccountOpened {
            name: "Intruder".into(),
            segment: relledger::domain::AccountSegment::Standard,
            owner: "nobody".into(),
            industry: String::new(),
            region: String::new(),
        }),
    };
    let message = serde_json::json!({
        "version": 1,
        "account": account,
        "expected": {"exact": expected},
        "events": [event],
    });
    let client = async_nats::connect(nats.urls[0].as_str()).await.unwrap();
    let ack = async_nats::jetstream::new(client)
        .publish(
            format!(
                "{}.{}",
                nats.options().subjects("events"),
                hex::encode(account)
            ),
            serde_json::to_vec(&message).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(!ack.duplicate);
}

/// Every record `server` holds, as (position, hash, event id).
async fn records(server: &mut TestServer) -> Vec<(u64, Vec<u8>, String)> {
    server
        .read_all()
        .await
        .into_iter()
        .map(|r| (r.position, r.hash, r.event.unwrap().event_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_catches_up_without_deciding_anything_again() {
    let Pair {
        nats,
        mut a,
        b,
        dirs,
    } = pair().await;

    // acme at revision 0; a message expecting revision 1, which every replica refuses then;
    // then acme at revision 1, where that message would now pass.
    a.append("acme", vec![event(-60, account_opened("Acme"))])
        .await
        .unwrap();
    publish_expecting(&nats, "acme", 1).await;
    a.client
        .append(AppendRequest {
            account_id: "acme".into(),
            expected_revision: exact(0),
            events: vec![event(
                -59,
                contact_added("boss", ContactRole::DecisionMaker),
            )],
        })
        .await
        .unwrap();
    seen_through(&b.client, 1).await;
    b.stop().await;

    // Appends go on through the other replica while this one is down.
    a.append("acme", vec![event(-30, visit(&["boss"]))])
        .await
        .unwrap();

    // The replica lost its saved progress (as a crash before sled wrote it would): it walks
    // the stream from its start, matching messages with the records it holds.
    let database = relledger::store::sled::sled_path(dirs[1].path());
    relledger::store::sled::wait_for_sled_release(&database);
    {
        let db = sled::open(&database).unwrap();
        db.open_tree("ordered").unwrap().remove("R").unwrap();
        db.flush().unwrap();
    }
    relledger::store::sled::wait_for_sled_release(&database);

    let mut b = replica(&nats, dirs[1].path()).await;
    seen_through(&b.client, 2).await;
    let on_a = records(&mut a).await;
    assert_eq!(on_a.len(), 3);
    assert_eq!(records(&mut b).await, on_a);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_appends_loses_no_acknowledged_append() {
    let mut nats = Nats::cluster(3).await;
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = replica(&nats, a_dir.path()).await;
    a.append(
        "acme",
        vec![
            event(-2000, account_opened("Acme")),
            event(-1999, contact_added("boss", ContactRole::DecisionMaker)),
        ],
    )
    .await
    .unwrap();

    // Appends one at a time; the first node is killed (SIGKILL) after the 30th is
    // acknowledged. Every append succeeds: a publish waits out the leader's election, and
    // the replica follows the stream again when its consumer went silent with the node.
    let mut acknowledged = Vec::new();
    for i in 0..90 {
        if i == 30 {
            nats.kill(0);
        }
        let visit = event(-1900 + i, visit(&["boss"]));
        let id = visit.event_id.clone();
        a.append("acme", vec![visit]).await.unwrap();
        acknowledged.push(id);
    }

    // The node rejoins; then another is killed, so that the stream stands on the rejoined
    // node and the third. A new replica reads the whole stream from them.
    nats.start(0);
    nats.ready().await;
    nats.kill(1);
    let last = a.read_all().await.last().unwrap().position;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = replica(&nats, fresh_dir.path()).await;
    let seen = seen_through(&fresh.client, last).await;
    let ids: Vec<String> = seen
        .events
        .iter()
        .map(|r| r.event.as_ref().unwrap().event_id.clone())
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged append {id} is lost");
    }
    assert_eq!(records(&mut a).await.len() as u64, last + 1);
    a.stop().await;
    fresh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_subscription_acknowledged_through_one_replica_resumes_through_the_other() {
    let Pair {
        nats: _nats,
        mut a,
        mut b,
        dirs: _dirs,
    } = pair().await;
    a.append(
        "acme",
        acme_with_boss(vec![
            event(-30, visit(&["boss"])),
            event(-20, visit(&["boss"])),
            event(-10, visit(&["boss"])),
        ]),
    )
    .await
    .unwrap();
    let ack = |position| AckSubscriptionRequest {
        name: "warehouse:loader@eu".into(),
        position,
    };
    let acked = a.client.ack_subscription(ack(2)).await.unwrap();
    assert_eq!(acked.into_inner().position, 2);
    // An older acknowledgement through the other replica does not move it back.
    let behind = b.client.ack_subscription(ack(1)).await.unwrap();
    assert_eq!(behind.into_inner().position, 2);
    let listed = b
        .client
        .list_subscriptions(ListSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<(&str, u64)> = listed
        .subscriptions
        .iter()
        .map(|s| (s.name.as_str(), s.acked_position))
        .collect();
    assert_eq!(names, [("warehouse:loader@eu", 2)]);

    // Resumed by name through the other replica: right after the acknowledged position.
    seen_through(&b.client, 4).await;
    let request = SubscribeRequest {
        subscription_name: "warehouse:loader@eu".into(),
        ..subscribe_request(None)
    };
    let mut stream = open(&mut b.client, request).await;
    let mut seen = Seen::default();
    while !seen.reached(Some(4)) {
        seen.record(stream.message().await.unwrap().unwrap());
    }
    assert_eq!(seen.positions(), [3, 4]);
    drop(stream);
    a.stop().await;
    b.stop().await;
}

/// The name `server` shows for contact `boss` of acme, with the record's erased fields.
async fn boss_name(server: &mut TestServer) -> (String, Vec<String>) {
    server
        .read_all()
        .await
        .into_iter()
        .find_map(|r| match r.event?.payload? {
            proto::proposed_event::Payload::ContactAdded(c) if c.contact_id == "boss" => {
                Some((c.name, r.erased_fields))
            }
            _ => None,
        })
        .expect("the contact_added record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_contact_through_one_replica_erases_it_on_every_replica_for_good() {
    let Pair {
        nats,
        mut a,
        mut b,
        dirs: _dirs,
    } = pair().await;

    // A contact's personal data, sealed through one replica, reads in clear on the other.
    a.append("acme", acme_with_boss(vec![])).await.unwrap();
    seen_through(&b.client, 1).await;
    assert_eq!(
        boss_name(&mut b).await,
        ("Name of boss".to_string(), vec![])
    );

    // Forgotten through the first: erased on the other once it has the forgetting.
    let forgotten = a
        .client
        .forget_contact(proto::ForgetContactRequest {
            account_id: "acme".into(),
            contact_id: "boss".into(),
            reason: "erasure request".into(),
            actor: "dpo".into(),
        })
        .await
        .unwrap()
        .into_inner();
    seen_through(&b.client, forgotten.position).await;
    let (name, erased) = boss_name(&mut b).await;
    assert!(name.is_empty(), "{name:?}");
    assert!(
        erased.contains(&"contact_added.name".to_string()),
        "{erased:?}"
    );

    // No replica makes the key again, not even one that starts afterwards.
    let c_dir = tempfile::tempdir().unwrap();
    let c = nats.replica(c_dir.path()).await;
    let keys = c.keys().await.unwrap();
    let boss = relledger::privacy::ContactRef::new(
        &relledger::domain::AccountId::parse("acme").unwrap(),
        "boss",
    );
    use relledger::privacy::KeyStore;
    assert!(keys.get(&boss).is_none());
    let again = tokio::task::spawn_blocking(move || keys.get_or_create(&boss))
        .await
        .unwrap();
    assert!(
        matches!(again, Err(relledger::privacy::PrivacyError::Forgotten(_))),
        "{again:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_process_restarts_and_catches_up() {
    let nats = Nats::cluster(3).await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = replica(&nats, a_dir.path()).await;
    let store = nats.store();
    let serve = || {
        spawn_serve(|serve| {
            serve
                .args(["--listen", "127.0.0.1:0", "--store", &store])
                .args(["--store-replicas", "3", "--data-dir"])
                .arg(b_dir.path());
        })
    };

    // The replica as a process: appends through it, then SIGKILL.
    let (mut b_process, b_url) = serve().await;
    let mut b = LedgerClient::connect(b_url).await.unwrap();
    let append = |account: &str, events| AppendRequest {
        account_id: account.into(),
        expected_revision: None,
        events,
    };
    b.append(append("acme", vec![event(-60, account_opened("Acme"))]))
        .await
        .unwrap();
    for i in 0..5 {
        let call = event(-50 + i, contact_added(&format!("c{i}"), ContactRole::User));
        b.append(append("acme", vec![call])).await.unwrap();
    }
    b_process.start_kill().expect("SIGKILL");
    b_process.wait().await.unwrap();

    // The other replica serves on.
    for i in 0..5 {
        let call = event(-40 + i, contact_added(&format!("d{i}"), ContactRole::User));
        a.client.append(append("acme", vec![call])).await.unwrap();
    }

    // Restarted, it catches up: the same records, with the same hashes.
    let (_b_process, b_url) = serve().await;
    let b = LedgerClient::connect(b_url).await.unwrap();
    let on_b = seen_through(&b, 10).await;
    let on_a = records(&mut a).await;
    assert_eq!(on_a.len(), 11);
    let on_b: Vec<(u64, Vec<u8>, String)> = on_b
        .events
        .into_iter()
        .map(|r| (r.position, r.hash, r.event.unwrap().event_id))
        .collect();
    assert_eq!(on_b, on_a);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_cannot_both_settle_one_promise() {
    let Pair {
        nats: _nats,
        mut a,
        b,
        dirs: _dirs,
    } = pair().await;
    a.append(
        "acme",
        acme_with_boss(vec![event(-50, promise_made("p1", "boss"))]),
    )
    .await
    .unwrap();
    seen_through(&b.client, 2).await;

    // Each replica validates the outcome against the account as it holds it, with no
    // expected revision from the client: still only one outcome is recorded.
    let mut settling = Vec::new();
    for client in [a.client.clone(), b.client.clone()] {
        for minute in [-10, -9] {
            let mut client = client.clone();
            settling.push(tokio::spawn(async move {
                client
                    .append(AppendRequest {
                        account_id: "acme".into(),
                        expected_revision: None,
                        events: vec![event(minute, promise_kept("p1"))],
                    })
                    .await
            }));
        }
    }
    let mut kept = 0;
    for settle in settling {
        match settle.await.unwrap() {
            Ok(_) => kept += 1,
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{status:?}"),
        }
    }
    assert_eq!(kept, 1);
    let outcomes = a
        .read_all()
        .await
        .into_iter()
        .filter(|r| r.event_type == "promise_kept")
        .count();
    assert_eq!(outcomes, 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ledgers_on_one_cluster_keep_apart() {
    let nats = Nats::cluster(3).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut ledgers = Vec::new();
    for (dir, stream) in dirs.iter().zip(["SALES_EU", "SALES_US"]) {
        let mut options = nats.options();
        options.set_stream(stream).unwrap();
        let mut config = Config::new(dir.path());
        config.store = Some(options);
        ledgers.push(TestServer::start_with(config).await);
    }

    // The same account in each, each opened from nothing, with its own data.
    let names = ["Acme Europe", "Acme America"];
    for (ledger, name) in ledgers.iter_mut().zip(names) {
        let mut client = ledger.client.clone();
        let appended = client
            .append(AppendRequest {
                account_id: "acme".into(),
                expected_revision: Some(ExpectedRevision {
                    kind: Some(Kind::NoStream(Default::default())),
                }),
                events: vec![event(-60, account_opened(name))],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(appended.last_revision, 0);
    }
    for (ledger, name) in ledgers.iter_mut().zip(names) {
        let records = ledger.read_all().await;
        assert_eq!(records.len(), 1, "{records:?}");
        let payload = records[0].event.clone().unwrap().payload;
        let Some(Payload::AccountOpened(opened)) = payload else {
            panic!("not an account opening: {payload:?}");
        };
        assert_eq!(opened.name, name);
    }
    for ledger in ledgers {
        ledger.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_the_stream_decides_expected_revisions_right() {
    let Pair {
        nats: _nats,
        mut a,
        b,
        dirs: _dirs,
    } = pair().await;
    a.append("acme", acme_with_boss(vec![])).await.unwrap();
    let append = |revision: u64, minute: i64| AppendRequest {
        account_id: "acme".into(),
        expected_revision: exact(revision),
        events: vec![event(minute, visit(&["boss"]))],
    };

    // Each append goes through the replica that did not take the one before, expecting the
    // revision that one answered: its copy is often still behind it, and the append must
    // still be taken.
    let clients = [a.client.clone(), b.client.clone()];
    let mut revision = 1;
    for i in 0..20 {
        let mut client = clients[i % 2].clone();
        let answer = client
            .append(append(revision, -50 + i as i64))
            .await
            .unwrap_or_else(|e| panic!("append {i} expecting {revision}: {e:?}"))
            .into_inner();
        assert_eq!(answer.first_revision, revision + 1);
        revision = answer.last_revision;

        // Right after, the other replica refuses the revision before, whether its copy has
        // the append yet or not.
        let mut other = clients[(i + 1) % 2].clone();
        let stale = other.append(append(revision - 1, -50 + i as i64)).await;
        assert_eq!(stale.unwrap_err().code(), Code::Aborted);
    }
    assert_eq!(revision, 21);
    assert_eq!(a.read_all().await.len(), 22);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_added_whichever_node_is_down() {
    let mut nats = Nats::cluster(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(&nats, dir.path()).await;
    a.append("acme", vec![event(-2000, account_opened("Acme"))])
        .await
        .unwrap();

    // Each node in turn is killed (SIGKILL) and a contact added while it is down: a contact's
    // personal data waits for its key, which the replica reads through a consumer of the keys'
    // stream. One of the nodes holds that consumer, and the replica follows the keys again
    // when it goes silent rather than waiting for the client to notice.
    for node in 0..3 {
        nats.kill(node);
        let contact = format!("c{node}");
        let added = event(
            -1900 + node as i64,
            contact_added(&contact, ContactRole::User),
        );
        a.append("acme", vec![added])
            .await
            .unwrap_or_else(|e| panic!("adding {contact} with node {node} down: {e:?}"));
        nats.start(node);
        nats.ready().await;
    }
    let names: Vec<String> = a
        .read_all()
        .await
        .into_iter()
        .filter_map(|r| match r.event.unwrap().payload {
            Some(Payload::ContactAdded(added)) => Some(added.name),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["Name of c0", "Name of c1", "Name of c2"]);
    a.stop().await;
}
