//! What validation must know of an account's history.

/// The state of one account as validation sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {}
