use super::*;
use crate::store::FileLog;

fn name(n: &str) -> SubscriptionName {
    SubscriptionName::parse(n).unwrap()
}

fn at(position: u64, nanos: i64) -> AckedPosition {
    AckedPosition {
        position,
        acked_at: Timestamp::from_unix_nanos(nanos),
    }
}

/// The contract both backends keep: forwards only, per name, listed by name.
async fn keeps_the_latest_position(store: &dyn CheckpointStore) {
    assert_eq!(store.acked(&name("bi")).await.unwrap(), None);
    assert_eq!(store.ack(&name("bi"), at(5, 1)).await.unwrap(), at(5, 1));
    assert_eq!(
        store.ack(&name("bi"), at(3, 2)).await.unwrap(),
        at(5, 1),
        "an ack behind the stored position is ignored"
    );
    assert_eq!(store.ack(&name("bi"), at(9, 3)).await.unwrap(), at(9, 3));
    store.ack(&name("alerts"), at(0, 4)).await.unwrap();
    assert_eq!(store.acked(&name("bi")).await.unwrap(), Some(at(9, 3)));
    assert_eq!(
        store.list().await.unwrap(),
        [(name("alerts"), at(0, 4)), (name("bi"), at(9, 3))]
    );
}

#[tokio::test]
async fn memory_checkpoints_keep_the_latest_position() {
    keeps_the_latest_position(&MemoryCheckpoints::new()).await;
}

#[tokio::test]
async fn sled_checkpoints_keep_the_latest_position_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path()).unwrap();
        let store = log.checkpoints().unwrap();
        keeps_the_latest_position(&store).await;
    }
    let log = FileLog::open(dir.path()).unwrap();
    let store = log.checkpoints().unwrap();
    assert_eq!(store.acked(&name("bi")).await.unwrap(), Some(at(9, 3)));
    assert_eq!(store.list().await.unwrap().len(), 2);
}

#[test]
fn stored_values_round_trip_and_unknown_versions_are_refused() {
    let acked = at(u64::MAX, -7);
    assert_eq!(AckedPosition::decode(&acked.encode()), Some(acked));
    let mut bytes = acked.encode();
    bytes[0] = 2;
    assert_eq!(AckedPosition::decode(&bytes), None);
    assert_eq!(AckedPosition::decode(&bytes[..16]), None);
}
