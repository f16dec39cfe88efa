//! Rows as the snapshot store keeps them, so that a restarted projector loads every account's
//! row instead of folding every account's history again (see `Rows::restored`).
//!
//! A stored row is the kept row and the one folded ahead to follow it, each without its brief
//! (a list folds the brief of the entries it shows when a row has none, as it does for the
//! rows a page installs). JSON, with a format number: a row of another format makes the rows
//! incomplete, and the projector builds them again from the log.

use serde::{Deserialize, Serialize};

use super::{Kept, Row, Rows, Table};
use crate::domain::projection::RelationshipSummary;
use crate::domain::{AccountId, Timestamp};
use crate::store::{StoreError, StoredRow};

/// The version of a stored row's encoding.
const FORMAT: u32 = 1;

/// One row, without its brief.
#[derive(Serialize, Deserialize)]
struct Form {
    summary: RelationshipSummary,
    owner: String,
    until: Timestamp,
    newest: Timestamp,
}

impl Form {
    fn of(row: &Row) -> Self {
        Form {
            summary: row.summary.clone(),
            owner: row.owner.clone(),
            until: row.until,
            newest: row.newest,
        }
    }

    fn into_row(self) -> Row {
        Row {
            summary: self.summary,
            owner: self.owner,
            until: self.until,
            newest: self.newest,
            brief: None,
        }
    }
}

/// A row and the one that follows it.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    row: Form,
    next: Option<Form>,
}

/// `row`, and `next` to follow it, as the store keeps them.
fn stored(account: &AccountId, row: &Row, next: Option<&Row>) -> Result<StoredRow, StoreError> {
    let stored = Stored {
        format: FORMAT,
        row: Form::of(row),
        next: next.map(Form::of),
    };
    let bytes = serde_json::to_vec(&stored).map_err(|e| {
        StoreError::Unavailable(format!("the row of {account} does not encode: {e}"))
    })?;
    Ok(StoredRow {
        account: account.clone(),
        position: row.position(),
        bytes,
    })
}

impl Row {
    /// The row as the store keeps it, for a page's commit.
    pub fn stored(&self, account: &AccountId) -> Result<StoredRow, StoreError> {
        stored(account, self, None)
    }
}

impl Rows {
    /// The rows of `accounts` as the table holds them now, for the store.
    pub fn stored_of<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a AccountId>,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let table = self.read();
        accounts
            .into_iter()
            .filter_map(|account| Some((account, table.rows.get(account)?)))
            .map(|(account, kept)| stored(account, &kept.row, kept.next.as_ref()))
            .collect()
    }

    /// The rows of a projector resuming at `position`, from every account's stored row; `None`
    /// when one does not decode, is of another format or counts an event after `position`
    /// (build them again then).
    pub fn restored(position: u64, rows: Vec<StoredRow>) -> Option<Rows> {
        let mut table = Table {
            position: Some(position),
            unbuilt_before: None,
            ..Table::default()
        };
        for StoredRow {
            account,
            position: last,
            bytes,
        } in rows
        {
            let stored: Stored = serde_json::from_slice(&bytes).ok()?;
            let row = stored.row.into_row();
            if stored.format != FORMAT || last > position || row.position() != last {
                return None;
            }
            let next = stored.next.map(Form::into_row);
            let kept = Kept { row, next };
            table.schedule.insert((kept.due(), account.clone()));
            table.rows.insert(account, kept);
        }
        Some(Rows::of(table))
    }
}
