//! The one place where errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::audit::AuditError;
use crate::auth::AccessError;
use crate::domain::ValidationError;
use crate::ledger::LedgerError;
use crate::privacy::PrivacyError;
use crate::store::StoreError;
use crate::subscriptions::SubscriptionError;

impl From<LedgerError> for Status {
    fn from(err: LedgerError) -> Status {
        match err {
            LedgerError::Invalid(invalid) => invalid_argument(invalid),
            LedgerError::AccountNotFound(account) => {
                Status::not_found(format!("account {account} has no events"))
            }
            LedgerError::ContactNotFound {
                account,
                contact_id,
            } => Status::not_found(format!(
                "contact {contact_id:?} was never added to account {account}"
            )),
            LedgerError::Privacy(privacy) => privacy.into(),
            LedgerError::Store(store) => store.into(),
        }
    }
}

impl From<PrivacyError> for Status {
    fn from(err: PrivacyError) -> Status {
        let message = err.to_string();
        match err {
            PrivacyError::Unavailable(_) => Status::unavailable(message),
            PrivacyError::Corrupt(_) => Status::data_loss(message),
            PrivacyError::Forgotten(_) => Status::failed_precondition(message),
        }
    }
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Status {
        let message = err.to_string();
        match err {
            StoreError::WrongExpectedRevision { .. } => Status::aborted(message),
            StoreError::EventIdConflict { .. } => Status::already_exists(message),
            StoreError::Corrupt(_) => Status::data_loss(message),
            StoreError::Unavailable(_) => Status::unavailable(message),
        }
    }
}

impl From<SubscriptionError> for Status {
    fn from(err: SubscriptionError) -> Status {
        let message = err.to_string();
        match err {
            SubscriptionError::Invalid(invalid) => invalid_argument(invalid),
            SubscriptionError::PastEnd { .. } => Status::out_of_range(message),
            SubscriptionError::ShuttingDown => Status::unavailable(message),
            SubscriptionError::Store(store) => store.into(),
        }
    }
}

impl From<AuditError> for Status {
    fn from(err: AuditError) -> Status {
        let message = err.to_string();
        match err {
            AuditError::EmptyLog => Status::failed_precondition(message),
            AuditError::PastHead { .. } => Status::out_of_range(message),
            AuditError::BackwardsRange { .. } => Status::invalid_argument(message),
            AuditError::Broken(_) => Status::data_loss(message),
            AuditError::Store(store) => store.into(),
        }
    }
}

impl From<AccessError> for Status {
    fn from(err: AccessError) -> Status {
        let message = err.to_string();
        match err {
            AccessError::Unauthenticated(_) | AccessError::UnknownCredential => {
                Status::unauthenticated(message)
            }
            AccessError::MissingRole { .. }
            | AccessError::OutsideScope { .. }
            | AccessError::NeedsEveryAccount { .. } => Status::permission_denied(message),
            AccessError::Limited(limited) => {
                // google.rpc.RetryInfo says when to retry, for clients that read details.
                let details = ErrorDetails::with_retry_info(Some(limited.retry_after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
        }
    }
}

impl From<ValidationError> for Status {
    fn from(err: ValidationError) -> Status {
        invalid_argument(err)
    }
}

/// `INVALID_ARGUMENT` whose message names every violated field, with the same violations as
/// `google.rpc.BadRequest` details for clients that read them.
fn invalid_argument(err: ValidationError) -> Status {
    let mut details = ErrorDetails::new();
    for violation in &err.violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, err.to_string(), details)
}

/// The canonical name of a status code, as gRPC's documentation and other clients spell it.
pub fn code_name(code: tonic::Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
