//! The Ledger gRPC API end to end: a real server on 127.0.0.1:0, a real tonic client.

use crate::common;

use common::events::*;
use common::{assert_chain_links, listed_services, read_all, read_stream, reflect, TestServer};
use relledger::api::proto::{
    self, expected_revision::Kind, AppendRequest, Direction, ExpectedRevision, ReadAllRequest,
    ReadStreamRequest,
};
use tonic::Code;

fn exact(revision: u64) -> Option<ExpectedRevision> {
    Some(ExpectedRevision {
        kind: Some(Kind::Exact(revision)),
    })
}

#[tokio::test]
async fn every_event_type_round_trips_with_its_place_and_hash_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let sent = one_of_each_type();
    let types: std::collections::BTreeSet<_> = sent
        .iter()
        .map(|e| payload_name(e.payload.as_ref().unwrap()))
        .collect();
    assert_eq!(types.len(), 19, "the fixture covers every event type");

    let response = server.append("acme", sent.clone()).await.unwrap();
    assert_eq!(
        (response.first_revision, response.last_revision),
        (0, sent.len() as u64 - 1)
    );
    assert_eq!(
        (response.first_position, response.last_position),
        (0, sent.len() as u64 - 1)
    );
    assert!(!response.duplicate);

    let read = read_stream(
        &mut server.client,
        ReadStreamRequest {
            account_id: "acme".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(read.len(), sent.len());
    for (i, (recorded, proposed)) in read.iter().zip(&sent).enumerate() {
        assert_eq!(
            recorded.event.as_ref(),
            Some(proposed),
            "event {i} reads back as sent"
        );
        assert_eq!(recorded.account_id, "acme");
        assert_eq!(recorded.revision, i as u64);
        assert_eq!(recorded.position, i as u64);
        assert!(recorded.recorded_at.is_some());
        assert_eq!(
            recorded.event_type,
            payload_name(proposed.payload.as_ref().unwrap())
        );
    }
    assert_chain_links(&read);
    assert_eq!(
        server.read_all().await,
        read,
        "the global log holds the same records"
    );
    server.stop().await;
}

#[tokio::test]
async fn reads_go_forwards_backwards_from_a_place_and_with_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("a", opening("A")).await.unwrap();
    server.append("b", opening("B")).await.unwrap();
    server
        .append(
            "a",
            vec![event(5, visit(&["c1"])), event(6, visit(&["c1"]))],
        )
        .await
        .unwrap();

    let revisions = |records: Vec<proto::RecordedEvent>| -> Vec<u64> {
        records.iter().map(|r| r.revision).collect()
    };
    let stream = |from, direction: Direction, max_count| ReadStreamRequest {
        account_id: "a".into(),
        from_revision: from,
        direction: direction as i32,
        max_count,
    };
    let client = &mut server.client;
    assert_eq!(
        revisions(
            read_stream(client, stream(None, Direction::Forwards, 0))
                .await
                .unwrap()
        ),
        [0, 1, 2, 3]
    );
    assert_eq!(
        revisions(
            read_stream(client, stream(None, Direction::Backwards, 0))
                .await
                .unwrap()
        ),
        [3, 2, 1, 0]
    );
    assert_eq!(
        revisions(
            read_stream(client, stream(Some(1), Direction::Forwards, 2))
                .await
                .unwrap()
        ),
        [1, 2]
    );
    assert_eq!(
        revisions(
            read_stream(client, stream(Some(2), Direction::Backwards, 0))
                .await
                .unwrap()
        ),
        [2, 1, 0]
    );
    assert_eq!(
        revisions(
            read_stream(client, stream(Some(9), Direction::Forwards, 0))
                .await
                .unwrap()
        ),
        Vec::<u64>::new()
    );

    let positions = |records: Vec<proto::RecordedEvent>| -> Vec<u64> {
        records.iter().map(|r| r.position).collect()
    };
    let all =
        |from, direction: Direction, max_count, accounts: &[&str], types: &[&str]| ReadAllRequest {
            from_position: from,
            direction: direction as i32,
            max_count,
            account_ids: accounts.iter().map(|s| s.to_string()).collect(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
        };
    assert_eq!(
        positions(
            read_all(client, all(None, Direction::Forwards, 0, &[], &[]))
                .await
                .unwrap()
        ),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        positions(
            read_all(client, all(None, Direction::Backwards, 2, &[], &[]))
                .await
                .unwrap()
        ),
        [5, 4]
    );
    assert_eq!(
        positions(
            read_all(client, all(Some(3), Direction::Forwards, 0, &["a"], &[]))
                .await
                .unwrap()
        ),
        [4, 5]
    );
    assert_eq!(
        positions(
            read_all(
                client,
                all(None, Direction::Forwards, 0, &[], &["contact_added"])
            )
            .await
            .unwrap()
        ),
        [1, 3]
    );
    assert_eq!(
        positions(
            read_all(
                client,
                all(
                    Some(4),
                    Direction::Backwards,
                    0,
                    &["b"],
                    &["account_opened", "contact_added"]
                )
            )
            .await
            .unwrap()
        ),
        [3, 2]
    );

    let unknown = read_stream(
        client,
        ReadStreamRequest {
            account_id: "nobody".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let bad_type = read_all(client, all(None, Direction::Forwards, 0, &[], &["meeting"]))
        .await
        .unwrap_err();
    assert_eq!(bad_type.code(), Code::InvalidArgument);
    assert!(
        bad_type.message().contains("event_types[0]"),
        "{}",
        bad_type.message()
    );
    let bad_direction = read_all(
        client,
        ReadAllRequest {
            direction: 7,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_direction.code(), Code::InvalidArgument);
    assert!(
        bad_direction.message().contains("direction"),
        "{}",
        bad_direction.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn expected_revision_is_checked_and_names_both_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let no_stream = Some(ExpectedRevision {
        kind: Some(Kind::NoStream(Default::default())),
    });
    let stream_exists = Some(ExpectedRevision {
        kind: Some(Kind::StreamExists(Default::default())),
    });
    let request = |expected_revision, events| AppendRequest {
        account_id: "acme".into(),
        expected_revision,
        events,
    };

    let err = server
        .client
        .append(request(stream_exists, opening("A")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    server
        .client
        .append(request(no_stream, opening("A")))
        .await
        .unwrap();
    let err = server
        .client
        .append(request(no_stream, vec![event(3, visit(&["c1"]))]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = server
        .client
        .append(request(exact(0), vec![event(3, visit(&["c1"]))]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(
        err.message().contains("revision 0") && err.message().contains("revision 1"),
        "{}",
        err.message()
    );
    let ok = server
        .client
        .append(request(exact(1), vec![event(3, visit(&["c1"]))]))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().first_revision, 2);
    server
        .client
        .append(request(stream_exists, vec![event(4, visit(&["c1"]))]))
        .await
        .unwrap();
    assert_eq!(
        server.read_all().await.len(),
        4,
        "rejected appends wrote nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn of_many_concurrent_appends_at_one_exact_revision_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("hot", opening("Hot")).await.unwrap();
    let channel = server.channel().await;
    let racers = (0..16).map(|i| {
        let mut client = proto::ledger_client::LedgerClient::new(channel.clone());
        tokio::spawn(async move {
            client
                .append(AppendRequest {
                    account_id: "hot".into(),
                    expected_revision: exact(1),
                    events: vec![event(10 + i, visit(&["c1"]))],
                })
                .await
        })
    });
    let results = futures::future::join_all(racers).await;
    let (won, lost): (Vec<_>, Vec<_>) = results
        .into_iter()
        .map(|r| r.unwrap())
        .partition(|r| r.is_ok());
    assert_eq!(won.len(), 1, "exactly one append wins the race");
    for loss in lost {
        assert_eq!(loss.unwrap_err().code(), Code::Aborted);
    }
    assert_eq!(server.read_all().await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn a_retried_append_returns_the_original_outcome_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let batch = opening("A");
    let first = append_to_new_stream(&mut server, "a", batch.clone()).await;
    let keep = vec![event(2, promise_made("p1", "c1"))];
    server.append("a", keep.clone()).await.unwrap();
    server
        .append("a", vec![event(3, promise_kept("p1"))])
        .await
        .unwrap();

    // The retry's expected revision (no stream) no longer holds: it is answered as a retry anyway.
    let retry = append_to_new_stream(&mut server, "a", batch.clone()).await;
    assert!(retry.duplicate);
    assert_eq!(
        (retry.first_position, retry.last_position),
        (first.first_position, first.last_position)
    );
    assert_eq!((retry.first_revision, retry.last_revision), (0, 1));
    // A retry of a promise_kept whose promise is now settled is still a retry, not an error.
    let kept_retry = server.append("a", keep).await.unwrap();
    assert!(kept_retry.duplicate);
    assert_eq!(server.read_all().await.len(), 4, "retries wrote nothing");
    // A retry that every check admits again (a call, any expected revision) is answered by the
    // log's own retry check: a duplicate too, and nothing written.
    let ring = vec![event(4, call("c1"))];
    let rang = server.append("a", ring.clone()).await.unwrap();
    let rang_again = server.append("a", ring.clone()).await.unwrap();
    assert!(!rang.duplicate && rang_again.duplicate);
    assert_eq!(
        (rang_again.first_position, rang_again.last_revision),
        (rang.first_position, rang.last_revision)
    );
    let mut other_call = ring[0].clone();
    other_call.actor = "someone.else".into();
    let err = server.append("a", vec![other_call]).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert_eq!(server.read_all().await.len(), 5);

    let mut changed = batch[0].clone();
    changed.actor = "someone.else".into();
    let err = server.append("a", vec![changed]).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = server.append("b", batch.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("account a"), "{}", err.message());
    assert_eq!(server.read_all().await.len(), 5);
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_server_keeps_every_record_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("acme", one_of_each_type()).await.unwrap();
    server.append("beta", opening("Beta")).await.unwrap();
    let before = server.read_all().await;
    server.stop().await;

    let mut server = TestServer::start(dir.path()).await;
    let after = server.read_all().await;
    assert_eq!(after, before);
    assert_chain_links(&after);
    // The validation state is rebuilt from the log: contact c2 left before the restart.
    let err = server
        .append("acme", vec![event(500, visit(&["c2"]))])
        .await
        .unwrap_err();
    assert!(err.message().contains("has left"), "{}", err.message());
    let next = server
        .append("beta", vec![event(5, visit(&["c1"]))])
        .await
        .unwrap();
    assert_eq!(next.first_position, before.len() as u64);
    server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = relledger::serve(
        listener,
        relledger::config::Config::new(dir.path()),
        async {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_let_any_client_discover_the_api() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    use tonic_reflection::pb::v1::{
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let channel = server.channel().await;

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "relledger.v1.Ledger".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let names = listed_services!(v1, channel.clone());
    assert!(
        names.iter().any(|n| n == "relledger.v1.Ledger"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );

    let symbol = MessageRequest::FileContainingSymbol("relledger.v1.ProposedEvent".into());
    let response = reflect!(v1, channel.clone(), symbol);
    assert!(
        matches!(response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "the event schema is discoverable: {response:?}"
    );

    // The same through v1alpha, which older clients speak.
    use tonic_reflection::pb::v1alpha::{
        server_reflection_request::MessageRequest as AlphaRequest,
        server_reflection_response::MessageResponse as AlphaResponse,
    };
    let names = listed_services!(v1alpha, channel.clone());
    assert!(
        names.iter().any(|n| n == "relledger.v1.Relationships"),
        "{names:?}"
    );
    let symbol = AlphaRequest::FileContainingSymbol("relledger.v1.ProposedEvent".into());
    let answer = reflect!(v1alpha, channel, symbol);
    assert!(
        matches!(answer, Some(AlphaResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "the event schema is discoverable through v1alpha: {answer:?}"
    );
    server.stop().await;
}

/// Appends `events` to `account` expecting no stream (the first append of an account).
async fn append_to_new_stream(
    server: &mut TestServer,
    account: &str,
    events: Vec<proto::ProposedEvent>,
) -> proto::AppendResponse {
    let request = AppendRequest {
        account_id: account.into(),
        expected_revision: Some(ExpectedRevision {
            kind: Some(Kind::NoStream(Default::default())),
        }),
        events,
    };
    server.client.append(request).await.unwrap().into_inner()
}
