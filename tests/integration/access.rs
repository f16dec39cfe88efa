//! Access control against a real server: credentials, roles, account scopes, revocation and
//! limits, through real clients sending `authorization: Bearer` metadata.

mod harness;
mod scopes;

use futures::StreamExt;
use relledger::api::proto::{self, AppendRequest, ReadStreamRequest, SubscribeRequest};
use relledger::auth::Role;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::common::listed_services;

use crate::common::events::{event, favor, opening};
use crate::common::read_stream;
use crate::common::subscribe::from_start;
use harness::Secured;

fn append(account: &str, events: Vec<proto::ProposedEvent>) -> AppendRequest {
    AppendRequest {
        account_id: account.to_string(),
        expected_revision: None,
        events,
    }
}

#[tokio::test]
async fn requests_without_valid_credentials_are_unauthenticated_and_health_stays_open() {
    let mut secured = Secured::start(&[("etl", &[Role::Writer], &[])]).await;

    // The harness's own client sends no token.
    let refused = secured
        .server
        .client
        .append(append("north-1", opening("Acme")))
        .await;
    let status = refused.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("Bearer"), "{}", status.message());

    let mut request = tonic::Request::new(append("north-1", opening("Acme")));
    request
        .metadata_mut()
        .insert("authorization", "Basic ZXRsOnNlY3JldA==".parse().unwrap());
    let status = secured.server.client.append(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("Bearer <token>"),
        "{}",
        status.message()
    );

    let forged = relledger::auth::Token::generate().unwrap();
    let status = secured
        .ledger_with(forged.expose())
        .await
        .append(append("north-1", opening("Acme")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "unknown or revoked credentials");

    // Nothing was written by any of them.
    let mut etl = secured.ledger("etl").await;
    let written = etl
        .append(append("north-1", opening("Acme")))
        .await
        .unwrap();
    assert_eq!(written.into_inner().first_position, 0);

    let mut health =
        tonic_health::pb::health_client::HealthClient::new(secured.server.channel().await);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Reflection too, in both its versions: it tells the API's schema, not the ledger.
    let channel = secured.server.channel().await;
    let services = listed_services!(v1, channel.clone());
    let alpha_services = listed_services!(v1alpha, channel);
    assert!(services.len() >= 4, "{services:?}");
    assert_eq!(alpha_services.len(), services.len());
    secured.stop().await;
}

/// Asserts a refusal for want of a role, naming the roles that would do.
fn denied<T>(result: Result<T, tonic::Status>, role: &str) {
    let status = result.map(|_| ()).unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains(&format!("needs the role {role}")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn each_role_calls_its_rpcs_and_is_refused_the_others_with_the_role_named() {
    let secured = Secured::start(&[
        ("etl", &[Role::Writer], &[]),
        ("dashboard", &[Role::Reader], &[]),
        ("feed", &[Role::Subscriber], &[]),
        ("kpmg", &[Role::Auditor], &[]),
        ("dpo", &[Role::Admin], &[]),
    ])
    .await;
    let mut etl = secured.ledger("etl").await;
    etl.append(append("north-1", opening("Acme")))
        .await
        .unwrap();

    let stream_request = || ReadStreamRequest {
        account_id: "north-1".into(),
        ..Default::default()
    };
    let mut dashboard = secured.ledger("dashboard").await;
    assert!(dashboard.read_stream(stream_request()).await.is_ok());
    assert!(
        etl.read_stream(stream_request()).await.is_ok(),
        "a writer reads what it may see"
    );
    denied(
        dashboard
            .append(append(
                "north-1",
                vec![event(5, favor("c1", proto::FavorKind::Meal, 100))],
            ))
            .await,
        "writer or admin",
    );
    let mut feed = secured.ledger("feed").await;
    denied(
        feed.read_stream(stream_request()).await,
        "reader or writer or admin",
    );
    assert!(feed
        .list_subscriptions(proto::ListSubscriptionsRequest::default())
        .await
        .is_ok());

    let forget = || proto::ForgetContactRequest {
        account_id: "north-1".into(),
        contact_id: "c1".into(),
        reason: "erasure request 7".into(),
        actor: String::new(),
    };
    denied(etl.forget_contact(forget()).await, "admin");
    denied(
        secured
            .audit("dashboard")
            .await
            .verify_chain(proto::VerifyChainRequest::default())
            .await,
        "auditor or admin",
    );
    assert!(secured
        .audit("kpmg")
        .await
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .is_ok());
    denied(
        secured
            .audit("kpmg")
            .await
            .sign_checkpoint(proto::SignCheckpointRequest::default())
            .await,
        "admin",
    );
    let forgotten = secured
        .ledger("dpo")
        .await
        .forget_contact(forget())
        .await
        .unwrap();
    assert!(!forgotten.into_inner().already_forgotten);
    secured.stop().await;
}

#[tokio::test]
async fn revoking_a_token_ends_its_open_streams_and_refuses_its_next_request() {
    let mut secured = Secured::start(&[
        ("etl", &[Role::Writer], &[]),
        ("feed", &[Role::Subscriber], &[]),
    ])
    .await;
    secured
        .ledger("etl")
        .await
        .append(append("north-1", opening("Acme")))
        .await
        .unwrap();
    let mut feed = secured.ledger("feed").await;
    let mut stream = feed
        .subscribe(SubscribeRequest {
            start: from_start(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Read up to the live edge: the stream is open and idle when the token is revoked.
    loop {
        let message = stream.next().await.unwrap().unwrap();
        if matches!(
            message.kind,
            Some(proto::subscribe_response::Kind::CaughtUp(_))
        ) {
            break;
        }
    }

    secured.remove("feed");
    let ended = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the stream ended without a status"),
        }
    };
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert!(ended.message().contains("revoked"), "{}", ended.message());
    let refused = feed
        .list_subscriptions(proto::ListSubscriptionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    secured.stop().await;
}

#[tokio::test]
async fn a_principal_over_its_limits_is_told_when_to_retry_and_another_is_not_held_up() {
    let secured = Secured::start_with_limits(
        &[
            ("etl", &[Role::Writer], &[]),
            ("crm", &[Role::Writer, Role::Subscriber], &[]),
        ],
        &[
            ("etl", r#"{"appends_per_second": 1, "append_burst": 2}"#),
            ("crm", r#"{"max_streams": 1}"#),
        ],
    )
    .await;
    let mut etl = secured.ledger("etl").await;
    let mut limited = None;
    for i in 0..10 {
        let account = format!("north-{i}");
        match etl.append(append(&account, opening("Acme"))).await {
            Ok(_) => continue,
            Err(status) => {
                limited = Some((i, status));
                break;
            }
        }
    }
    let (appended, status) = limited.expect("the bucket never ran dry");
    assert!(
        appended >= 2,
        "refused within the burst of 2: after {appended}"
    );
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("appends_per_second = 1"),
        "{}",
        status.message()
    );
    let retry = status
        .get_details_retry_info()
        .expect("google.rpc.RetryInfo");
    let delay = retry.retry_delay.expect("a retry delay");
    assert!(delay <= std::time::Duration::from_secs(1), "{delay:?}");

    // Another principal's appends are counted apart.
    let mut crm = secured.ledger("crm").await;
    crm.append(append("south-1", opening("Bolt")))
        .await
        .unwrap();

    // One stream at a time for crm: the second is refused while the first is open.
    let subscribe = || SubscribeRequest {
        start: from_start(),
        ..Default::default()
    };
    let open = crm.subscribe(subscribe()).await.unwrap();
    let status = crm.subscribe(subscribe()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("max_streams = 1"),
        "{}",
        status.message()
    );
    drop(open);
    secured.stop().await;
}

#[tokio::test]
async fn every_record_names_the_principal_that_appended_it_inside_the_chain() {
    let secured = Secured::start(&[
        ("etl", &[Role::Writer], &[]),
        ("dpo", &[Role::Admin], &[]),
        ("kpmg", &[Role::Auditor], &[]),
    ])
    .await;
    let mut etl = secured.ledger("etl").await;
    etl.append(append("north-1", opening("Acme")))
        .await
        .unwrap();
    let mut dpo = secured.ledger("dpo").await;
    dpo.forget_contact(proto::ForgetContactRequest {
        account_id: "north-1".into(),
        contact_id: "c1".into(),
        reason: "erasure request 7".into(),
        actor: "li.wei".into(),
    })
    .await
    .unwrap();

    let request = ReadStreamRequest {
        account_id: "north-1".into(),
        ..Default::default()
    };
    let records = read_stream(&mut etl, request).await.unwrap();
    let recorders: Vec<&str> = records.iter().map(|r| r.recorded_by.as_str()).collect();
    assert_eq!(recorders, ["etl", "etl", "dpo"]);
    // The client's actor is its own claim; who the server saw is the recorder.
    assert_eq!(records[2].event.as_ref().unwrap().actor, "li.wei");

    let verified = secured
        .audit("kpmg")
        .await
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records_checked, 3);

    // A checkpoint asked for names who asked, inside its signature; an auditor's export,
    // which may not ask for one, ends at the newest checkpoint.
    let asked = secured
        .audit("dpo")
        .await
        .sign_checkpoint(proto::SignCheckpointRequest::default())
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(asked.requested_by, "dpo");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.ndjson");
    relledger::cli::export(relledger::cli::ExportArgs {
        data_dir: None,
        server: Some(secured.url()),
        credentials: relledger::cli::Credentials {
            token: Some(secured.token("kpmg").to_string()),
            ..Default::default()
        },
        output: bundle.clone(),
        from: 0,
        to: None,
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert_eq!(
        text.matches(r#"\"recorded_by\":\"etl\""#).count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches(r#"\"recorded_by\":\"dpo\""#).count(), 1);
    assert!(text.contains(r#""requested_by":"dpo""#), "{text}");
    let verified = relledger::audit::import::verify_bundle(&bundle, None, &mut |_, _| {}).unwrap();
    assert_eq!(verified.records, 3);
    assert_eq!(verified.covered_to, Some(2));
    assert_eq!(verified.checkpoints[0].requested_by.as_deref(), Some("dpo"));
    secured.stop().await;
}

#[tokio::test]
async fn a_method_the_table_does_not_name_is_refused_even_to_an_admin() {
    let secured = Secured::start(&[("dpo", &[Role::Admin], &[])]).await;
    let mut grpc = tonic::client::Grpc::new(secured.channel_with(secured.token("dpo")).await);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<pbjson_types::Empty, pbjson_types::Empty>::default();
    let path = http::uri::PathAndQuery::from_static("/relledger.v1.Ledger/DropEverything");
    let status = grpc
        .unary(tonic::Request::new(pbjson_types::Empty {}), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("DropEverything"),
        "{}",
        status.message()
    );
    secured.stop().await;
}
