use super::*;
use crate::domain::event::{AccountSegment, ContactRole};
use crate::domain::projection::testkit;
use crate::store::{Direction, ExpectedRevision, MemoryLog};

#[tokio::test]
async fn a_live_answer_about_a_long_history_folds_it_when_the_state_is_compact() {
    let log = Arc::new(MemoryLog::new());
    let mut events = testkit::Log::opened(AccountSegment::Standard);
    events.contact(1, "qa", ContactRole::TechnicalEvaluator);
    events.promise(2, "p1", Some("qa"), 40);
    for d in 3..1_500 {
        events.visit(d, &["qa"]);
    }
    let account = AccountId::parse("acct-b").unwrap();
    let proposed = events.events.into_iter().map(|r| r.event).collect();
    log.append(&account, ExpectedRevision::Any, proposed)
        .await
        .unwrap();
    let params = Params::default();
    let relationships = Relationships::new(log.clone(), params.clone());
    let live = relationships
        .get_listing(&account, RelationshipQuery::default(), Some(3))
        .await
        .unwrap();
    let kept = relationships.states.peek(&account).unwrap();
    assert!(kept.state.is_compact(), "a long history's state is compact");
    let history: Vec<RecordedEvent> = log
        .read_stream(&account, None, Direction::Forwards, None)
        .try_collect()
        .await
        .unwrap();
    let folded = project_listing(&history, live.as_of, &params, Some(3));
    let bytes = |p: &AccountProjection| serde_json::to_string(p).unwrap();
    assert_eq!(bytes(&live), bytes(&folded));
    // Explained, with the trend and the overdue promise.
    assert_eq!(live.organizational_trust.contributions.len(), 3);
    assert!(live.promises.overdue > 0);
}
