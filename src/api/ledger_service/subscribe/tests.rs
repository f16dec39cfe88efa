use super::*;
use crate::domain::{
    AccountId, Call, ChainHash, ContactAdded, ContactRole, EventPayload, ProposedEvent, Timestamp,
};
use crate::store::codec::{seal, Place};

fn contact_added() -> ProposedEvent {
    ProposedEvent::of(EventPayload::ContactAdded(ContactAdded {
        contact_id: "c1".into(),
        name: "Zhang Wei".into(),
        role: ContactRole::DecisionMaker,
        title: "project manager".into(),
        phone: Default::default(),
        email: Default::default(),
        public_official: false,
        notes: Default::default(),
    }))
}

fn call() -> ProposedEvent {
    ProposedEvent::of(EventPayload::Call(Call {
        contact_id: "c1".into(),
        summary: "hi".into(),
    }))
}

/// A batch whose second record was sealed under a key that is not the one the server holds
/// for its contact: the first record still goes out, then DATA_LOSS ends the stream, as
/// one message per event would have done.
#[tokio::test]
async fn a_record_that_does_not_open_ends_a_batch_after_the_records_before_it() {
    let account = AccountId::parse("acme").unwrap();
    let writer = Privacy::in_memory();
    let sealed = writer
        .seal(&account, vec![contact_added()])
        .await
        .unwrap()
        .remove(0);
    // The reader holds a different key for the same contact.
    let reader = Privacy::in_memory();
    reader.seal(&account, vec![contact_added()]).await.unwrap();
    let at = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let records = [call(), sealed, call()]
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let place = Place {
                position: i as u64,
                account: &account,
                revision: i as u64,
                recorded_by: None,
            };
            seal(place, at, e, ChainHash([0; 32])).0
        })
        .collect();

    let messages = batch_to_proto(&reader, records);
    let [Ok(first), Err(status)] = &messages[..] else {
        panic!("one message, then the error: {messages:?}");
    };
    let Some(Kind::Events(batch)) = &first.kind else {
        panic!("an events batch: {first:?}");
    };
    assert_eq!(
        batch.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(status.code(), tonic::Code::DataLoss, "{status:?}");
}

#[test]
fn max_batch_above_a_page_is_refused_naming_the_field() {
    let mut violations = Vec::new();
    assert_eq!(max_batch_from_proto(0, &mut violations), None);
    assert_eq!(
        max_batch_from_proto(256, &mut violations),
        NonZeroUsize::new(256)
    );
    assert!(violations.is_empty());
    assert_eq!(max_batch_from_proto(257, &mut violations), None);
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "max_batch");
}
