//! Rows as the snapshot store keeps them, so that a restarted projector loads every account's
//! row instead of folding every account's history again (see `Rows::restored`).
//!
//! A stored row is the kept row and the one folded ahead to follow it, each with its brief when
//! it has one (the refresher's and the build's rows do; a page's do not, and a list folds the
//! brief of the entries it shows then). JSON, with a format number: a row of another format
//! makes the rows incomplete, and the projector builds them again from the log. Its floats
//! come back to the bit (`serde_json`'s `float_roundtrip`), so a loaded brief answers as the
//! fold that made it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Kept, Row, Rows, Table};
use crate::domain::projection::{
    AccountProfile, Alert, Level, Quadrant, RelationshipBrief, RelationshipSummary, TrustScore,
};
use crate::domain::{AccountId, Timestamp};
use crate::store::{StoreError, StoredRow};

/// The version of a stored row's encoding.
const FORMAT: u32 = 1;

/// One row.
#[derive(Serialize, Deserialize)]
struct Form {
    summary: RelationshipSummary,
    owner: String,
    until: Timestamp,
    newest: Timestamp,
    brief: Option<BriefForm>,
}

/// A [`RelationshipBrief`] but for its rules' name, which is the summary's.
#[derive(Serialize, Deserialize)]
struct BriefForm {
    account_id: Option<AccountId>,
    profile: AccountProfile,
    as_of: Timestamp,
    trust: TrustScore,
    quadrant: Quadrant,
    level: Level,
    revenue_minor: i64,
    margin_minor: i64,
    receivables_overdue_minor: i64,
    alerts: Vec<Alert>,
}

impl Form {
    fn of(row: &Row) -> Self {
        Form {
            summary: row.summary.clone(),
            owner: row.owner.clone(),
            until: row.until,
            newest: row.newest,
            brief: row.brief.as_deref().map(|b| BriefForm {
                account_id: b.account_id.clone(),
                profile: b.profile.clone(),
                as_of: b.as_of,
                trust: b.trust.clone(),
                quadrant: b.quadrant,
                level: b.level,
                revenue_minor: b.revenue_minor,
                margin_minor: b.margin_minor,
                receivables_overdue_minor: b.receivables_overdue_minor,
                alerts: b.alerts.clone(),
            }),
        }
    }

    /// The row, its brief under the rules `params_version` names (the summary's, checked).
    fn into_row(self, params_version: &'static str) -> Option<Row> {
        if self.summary.params_version != params_version {
            return None;
        }
        let brief = self.brief.map(|b| {
            Arc::new(RelationshipBrief {
                account_id: b.account_id,
                profile: b.profile,
                as_of: b.as_of,
                params_version,
                trust: b.trust,
                quadrant: b.quadrant,
                level: b.level,
                revenue_minor: b.revenue_minor,
                margin_minor: b.margin_minor,
                receivables_overdue_minor: b.receivables_overdue_minor,
                alerts: b.alerts,
            })
        });
        Some(Row {
            summary: self.summary,
            owner: self.owner,
            until: self.until,
            newest: self.newest,
            brief,
        })
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

    /// The rows of a projector resuming at `position` with the rules `params_version` names,
    /// from every account's stored row; `None` when one does not decode, is of another format
    /// or other rules, or counts an event after `position` (build them again then).
    pub fn restored(
        position: u64,
        params_version: &'static str,
        rows: Vec<StoredRow>,
    ) -> Option<Rows> {
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
            if stored.format != FORMAT {
                return None;
            }
            let row = stored.row.into_row(params_version)?;
            if last > position || row.position() != last {
                return None;
            }
            let next = match stored.next {
                Some(next) => Some(next.into_row(params_version)?),
                None => None,
            };
            let kept = Kept { row, next };
            table.schedule.insert((kept.due(), account.clone()));
            table.rows.insert(account, kept);
        }
        Some(Rows::of(table))
    }
}
