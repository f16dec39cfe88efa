//! Which accounts a caller may touch: every account, or those whose id starts with one of a
//! few prefixes (a region's `north-`, a team's `key-`).
//!
//! A scope is part of every question a scoped caller asks: its appends and stream reads outside
//! it are refused, and its lists, feeds and totals silently hold only the accounts inside it.
//! Account ids are plain ASCII (`AccountId`), so a prefix is a byte prefix.

use serde::{Deserialize, Serialize};

use super::AccountId;

/// The accounts a caller may touch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountScope {
    /// Every account.
    #[default]
    All,
    /// The accounts whose id starts with any of these prefixes (never empty: a principal
    /// without prefixes is [`AccountScope::All`]).
    Prefixes(Vec<String>),
}

impl AccountScope {
    /// The scope of `prefixes`: every account when there are none.
    pub fn of_prefixes(prefixes: Vec<String>) -> AccountScope {
        if prefixes.is_empty() {
            AccountScope::All
        } else {
            AccountScope::Prefixes(prefixes)
        }
    }

    /// Whether `account` is inside the scope.
    pub fn covers(&self, account: &AccountId) -> bool {
        self.covers_id(account.as_str())
    }

    /// Whether the account id `account` is inside the scope (for ids not parsed yet).
    pub fn covers_id(&self, account: &str) -> bool {
        match self {
            AccountScope::All => true,
            AccountScope::Prefixes(prefixes) => {
                prefixes.iter().any(|prefix| account.starts_with(prefix))
            }
        }
    }

    /// Whether the scope is every account.
    pub fn is_all(&self) -> bool {
        matches!(self, AccountScope::All)
    }
}

impl std::fmt::Display for AccountScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountScope::All => f.write_str("every account"),
            AccountScope::Prefixes(prefixes) => {
                f.write_str("accounts starting with ")?;
                for (i, prefix) in prefixes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{prefix:?}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
