//! The one way a stored record reaches the wire: opened by [`Privacy::reveal`] (personal fields
//! in clear, or erased when their contact was forgotten), then converted. `ReadStream`,
//! `ReadAll`, `Subscribe` and `Audit.Replay` all go through [`record_to_wire`], so they show
//! the same thing; the conversion takes only a revealed record, so a new read path cannot skip
//! the opening by accident.

use tonic::Status;

use super::convert::recorded_event_to_proto;
use super::proto;
use crate::domain::RecordedEvent;
use crate::privacy::Privacy;

/// `record` as a reader sees it on the wire.
pub fn record_to_wire(
    privacy: &Privacy,
    record: RecordedEvent,
) -> Result<proto::RecordedEvent, Status> {
    let position = record.position;
    let revealed = privacy.reveal(record).map_err(|err| {
        tracing::error!(position, error = %err, "a record's personal data does not open");
        Status::from(err)
    })?;
    Ok(recorded_event_to_proto(revealed))
}
