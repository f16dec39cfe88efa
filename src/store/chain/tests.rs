use std::collections::BTreeMap;

use super::*;
use crate::domain::{AccountId, Call, EventId, EventPayload, ProposedEvent, Timestamp};
use crate::store::codec::{seal, Place};

fn chain(len: u64) -> Vec<RecordedEvent> {
    let account = AccountId::parse("acme").unwrap();
    let mut prev = ChainHash::GENESIS;
    (0..len)
        .map(|position| {
            let event = ProposedEvent {
                event_id: EventId::new_random(),
                occurred_at: Timestamp::EPOCH,
                actor: "a".to_string(),
                metadata: BTreeMap::new(),
                payload: EventPayload::Call(Call {
                    contact_id: "c1".to_string(),
                    summary: format!("call {position}"),
                }),
            };
            let place = Place {
                position,
                account: &account,
                revision: position,
                recorded_by: None,
            };
            let (record, _) = seal(place, Timestamp::EPOCH, event, prev);
            prev = record.hash;
            record
        })
        .collect()
}

#[test]
fn an_intact_chain_verifies() {
    assert_eq!(verify_chain(chain(5), ChainHash::GENESIS), Ok(5));
    assert_eq!(verify_chain(Vec::new(), ChainHash::GENESIS), Ok(0));
    let records = chain(5);
    let tail = records[2..].to_vec();
    assert_eq!(verify_chain(tail, records[1].hash), Ok(3));
}

#[test]
fn a_changed_record_breaks_the_chain_where_it_changed() {
    let mut records = chain(5);
    records[3].event.actor = "mallory".to_string();
    let brk = verify_chain(records, ChainHash::GENESIS).unwrap_err();
    assert_eq!(brk.position, 3);
}

#[test]
fn a_resealed_record_breaks_the_link_after_it() {
    let mut records = chain(5);
    records[2].event.actor = "mallory".to_string();
    records[2].hash = compute_hash(&records[2].prev_hash, &canonical_bytes(&records[2]));
    let brk = verify_chain(records, ChainHash::GENESIS).unwrap_err();
    assert_eq!(brk.position, 3);
}

#[test]
fn a_missing_record_is_a_break() {
    let mut records = chain(5);
    records.remove(2);
    let brk = verify_chain(records, ChainHash::GENESIS).unwrap_err();
    assert_eq!(brk.position, 2);
    let brk = verify_chain(chain(3).split_off(1), ChainHash::GENESIS).unwrap_err();
    assert_eq!(brk.position, 0);
}
