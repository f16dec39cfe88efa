//! Which records and which instant a question means: a question resolved into a [`Cut`] (the
//! last position and `recorded_at` counted, and the instant judged at), by the rules in the
//! parent module's table.

use std::borrow::Cow;

use futures::TryStreamExt;

use super::{AsOf, RelationshipQuery, Relationships};
use crate::clock::now;
use crate::domain::projection::Checkpoint;
use crate::domain::{RecordedEvent, Timestamp, ValidationError};
use crate::ledger::LedgerError;
use crate::read::histories;
use crate::store::{Direction, Log, ReadAllFilter};

/// Which records count, and the instant they are judged at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    /// The last global position counted.
    pub(super) max_position: Option<u64>,
    /// The last `recorded_at` counted.
    pub(super) known_at: Option<Timestamp>,
    /// The instant judged at.
    pub(super) judged: Judged,
}

/// The instant a question judges the relationship at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Judged {
    /// Exactly this instant (`as_of_time`).
    At(Timestamp),
    /// A moment the ledger stood at (now, `known_at`, the recording of a position), or the
    /// newest `occurred_at` counted if that is later: an event may be dated up to a day ahead
    /// of the server's clock, and a live answer never ignores an event it has.
    NoEarlierThan(Timestamp),
}

impl Judged {
    /// The instant before any event is considered: the exact instant, or the moment.
    pub(super) fn base(self) -> Timestamp {
        match self {
            Judged::At(t) | Judged::NoEarlierThan(t) => t,
        }
    }

    /// The instant, given the `occurred_at` of every event counted.
    pub(crate) fn instant(self, occurred: impl IntoIterator<Item = Timestamp>) -> Timestamp {
        match self {
            Judged::At(t) => t,
            Judged::NoEarlierThan(t) => occurred.into_iter().fold(t, Timestamp::max),
        }
    }
}

/// The `occurred_at` of each event.
pub(crate) fn occurred<'a, I: IntoIterator<Item = &'a RecordedEvent>>(
    events: I,
) -> impl Iterator<Item = Timestamp> + use<'a, I> {
    events.into_iter().map(|r| r.event.occurred_at)
}

impl Cut {
    /// Every record, judged as a live query now.
    pub(super) fn everything() -> Self {
        Cut {
            max_position: None,
            known_at: None,
            judged: Judged::NoEarlierThan(now()),
        }
    }

    /// The cut with its last position pinned to the log's committed head now, so that a walk
    /// over every account sees the log as it stood when the walk began, whatever is appended
    /// meanwhile; `None` while the log is empty.
    pub(super) fn pinned(mut self, log: &dyn Log) -> Option<Self> {
        let last = log.head().next_position.checked_sub(1)?;
        self.max_position = Some(self.max_position.map_or(last, |p| p.min(last)));
        Some(self)
    }

    /// The events of an account's `history` (in stream order) that the cut admits.
    pub(super) fn admitted<'h>(&self, history: &'h [RecordedEvent]) -> Cow<'h, [RecordedEvent]> {
        let counted = match self.max_position {
            Some(position) => histories::up_to(history, position),
            None => history,
        };
        match self.known_at {
            None => Cow::Borrowed(counted),
            Some(_) => Cow::Owned(counted.iter().filter(|r| self.admits(r)).cloned().collect()),
        }
    }

    pub(super) fn admits(&self, record: &RecordedEvent) -> bool {
        self.max_position.is_none_or(|p| record.position <= p)
            && self.known_at.is_none_or(|k| record.recorded_at <= k)
    }
}

impl Relationships {
    /// Runs `pass` as of the instant `judged` names: first as of its moment, and when that is
    /// a moment the ledger stood at and some event counted is dated after it (up to a day
    /// ahead of the clock), once more as of that event's `occurred_at`, which is then the
    /// instant (as in [`Judged::instant`]). `pass` answers with what it gathered and the newest
    /// `occurred_at` it counted; the second pass, over the same pinned cut, counts the same.
    pub(super) async fn judged_walk<T, F, Fut>(
        &self,
        judged: Judged,
        pass: F,
    ) -> Result<(T, Timestamp), LedgerError>
    where
        F: Fn(Timestamp) -> Fut,
        Fut: std::future::Future<Output = Result<(T, Option<Timestamp>), LedgerError>>,
    {
        let first = judged.base();
        let (gathered, newest) = pass(first).await?;
        let as_of = judged.instant(newest);
        if as_of == first {
            return Ok((gathered, as_of));
        }
        let (gathered, _) = pass(as_of).await?;
        Ok((gathered, as_of))
    }

    /// Resolves a question into a cut, reading the record a position names.
    pub(super) async fn cut(&self, query: RelationshipQuery) -> Result<Cut, LedgerError> {
        let known_at = query.known_at;
        let (max_position, judged) = match query.as_of {
            AsOf::Now => (None, Judged::NoEarlierThan(known_at.unwrap_or_else(now))),
            AsOf::Time(t) => (None, Judged::At(t)),
            AsOf::Position(p) => {
                let recorded_at = self.recorded_at(p, "as_of_position").await?;
                let moment = known_at.map_or(recorded_at, |k| k.min(recorded_at));
                (Some(p), Judged::NoEarlierThan(moment))
            }
        };
        Ok(Cut {
            max_position,
            known_at,
            judged,
        })
    }

    /// A checkpoint with its position, if any, pinned to the moment it was recorded (or the
    /// newest `occurred_at` of `events` counted by then, if later).
    pub(super) async fn resolve(
        &self,
        checkpoint: Checkpoint,
        events: &[RecordedEvent],
        field: &str,
    ) -> Result<Checkpoint, LedgerError> {
        Ok(match checkpoint {
            Checkpoint::Position(position) => {
                let recorded_at = self.recorded_at(position, field).await?;
                let counted = events.iter().filter(|e| e.position <= position);
                let as_of = Judged::NoEarlierThan(recorded_at).instant(occurred(counted));
                Checkpoint::Known { position, as_of }
            }
            other => other,
        })
    }

    /// When the record at `position` was recorded; `INVALID_ARGUMENT` naming `field` when the
    /// log has no such position yet.
    pub(super) async fn recorded_at(
        &self,
        position: u64,
        field: &str,
    ) -> Result<Timestamp, LedgerError> {
        let mut records = self.log.read_all(
            Some(position),
            Direction::Forwards,
            Some(1),
            ReadAllFilter::default(),
        );
        match records.try_next().await? {
            Some(record) if record.position == position => Ok(record.recorded_at),
            _ => Err(ValidationError::single(
                field,
                format!(
                    "position {position} is not in the log yet (it holds {} records)",
                    self.log.head().next_position
                ),
            )
            .into()),
        }
    }
}
