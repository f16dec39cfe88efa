//! The enums of `relledger.v1.Relationships` requests off the wire: list filters (quadrant,
//! level, grade, alert code) and the list order.
//!
//! A number the contract does not define, an `UNSPECIFIED` filter value or an alert code that
//! docs/scoring.md §11 does not name is a violation naming the field (`quadrants[2]`), so a
//! client's typo is refused rather than silently matching nothing.

use crate::api::proto;
use crate::domain::projection::{AlertCode, Grade, Level, Quadrant};
use crate::domain::ValidationError;
use crate::read::relationships::ListOrder;

/// Every alert code, so a filter's string can be looked up. `listed` and the assertion below
/// keep it complete at compile time.
pub(super) const ALERT_CODES: [AlertCode; 11] = [
    AlertCode::PromiseOverdue,
    AlertCode::CadenceLapsed,
    AlertCode::SingleThreaded,
    AlertCode::KeyContactLeft,
    AlertCode::GiftOverLimit,
    AlertCode::GiftToPublicOfficial,
    AlertCode::ReceivablesOverdue,
    AlertCode::MarginErosion,
    AlertCode::PricePressureRepeated,
    AlertCode::CostExceedsMargin,
    AlertCode::ConcentrationCritical,
];

/// The index of `code` in [`ALERT_CODES`]. An exhaustive match: a code added to the domain
/// fails the build here until it is listed.
pub(super) const fn listed(code: AlertCode) -> usize {
    match code {
        AlertCode::PromiseOverdue => 0,
        AlertCode::CadenceLapsed => 1,
        AlertCode::SingleThreaded => 2,
        AlertCode::KeyContactLeft => 3,
        AlertCode::GiftOverLimit => 4,
        AlertCode::GiftToPublicOfficial => 5,
        AlertCode::ReceivablesOverdue => 6,
        AlertCode::MarginErosion => 7,
        AlertCode::PricePressureRepeated => 8,
        AlertCode::CostExceedsMargin => 9,
        AlertCode::ConcentrationCritical => 10,
    }
}

// Every code sits at its own index, so the table holds each code exactly once.
const _: () = {
    let mut i = 0;
    while i < ALERT_CODES.len() {
        assert!(listed(ALERT_CODES[i]) == i, "ALERT_CODES is out of order");
        i += 1;
    }
};

/// The alert code a filter names, as docs/scoring.md §11 spells it; a violation of `field`
/// otherwise.
pub fn alert_code_from_proto(code: &str, field: &str) -> Result<AlertCode, ValidationError> {
    ALERT_CODES
        .into_iter()
        .find(|c| c.as_str() == code)
        .ok_or_else(|| {
            let known: Vec<&str> = ALERT_CODES.iter().map(|c| c.as_str()).collect();
            ValidationError::single(
                field,
                format!(
                    "{code:?} is not an alert code; use one of {}",
                    known.join(", ")
                ),
            )
        })
}

/// The violation of a filter value that is not a value of `enum_name`.
fn unknown(raw: i32, enum_name: &str, field: &str) -> ValidationError {
    ValidationError::single(
        field,
        format!("{raw} is not a known {enum_name} value to filter on"),
    )
}

/// The quadrant a filter names; `QUADRANT_UNSPECIFIED` or an unknown number violates `field`.
pub fn quadrant_from_proto(raw: i32, field: &str) -> Result<Quadrant, ValidationError> {
    match proto::Quadrant::try_from(raw) {
        Ok(proto::Quadrant::Outsider) => Ok(Quadrant::Outsider),
        Ok(proto::Quadrant::Friend) => Ok(Quadrant::Friend),
        Ok(proto::Quadrant::Supplier) => Ok(Quadrant::Supplier),
        Ok(proto::Quadrant::Partner) => Ok(Quadrant::Partner),
        Ok(proto::Quadrant::Unspecified) | Err(_) => Err(unknown(raw, "Quadrant", field)),
    }
}

/// The level a filter names; `LEVEL_UNSPECIFIED` or an unknown number violates `field`.
pub fn level_from_proto(raw: i32, field: &str) -> Result<Level, ValidationError> {
    match proto::Level::try_from(raw) {
        Ok(proto::Level::None) => Ok(Level::None),
        Ok(proto::Level::Price) => Ok(Level::Price),
        Ok(proto::Level::Service) => Ok(Level::Service),
        Ok(proto::Level::Interdependence) => Ok(Level::Interdependence),
        Ok(proto::Level::Unspecified) | Err(_) => Err(unknown(raw, "Level", field)),
    }
}

/// The grade a filter names; `GRADE_UNSPECIFIED` or an unknown number violates `field`.
pub fn grade_from_proto(raw: i32, field: &str) -> Result<Grade, ValidationError> {
    match proto::Grade::try_from(raw) {
        Ok(proto::Grade::Good) => Ok(Grade::Good),
        Ok(proto::Grade::Fair) => Ok(Grade::Fair),
        Ok(proto::Grade::Poor) => Ok(Grade::Poor),
        Ok(proto::Grade::NotEnoughInfo) => Ok(Grade::NotEnoughInfo),
        Ok(proto::Grade::Unspecified) | Err(_) => Err(unknown(raw, "Grade", field)),
    }
}

/// The order of a list; unspecified means by account id, and an unknown number violates
/// `field`.
pub fn list_order_from_proto(raw: i32, field: &str) -> Result<ListOrder, ValidationError> {
    match proto::ListOrder::try_from(raw) {
        Ok(proto::ListOrder::Unspecified) => Ok(ListOrder::AccountId),
        Ok(proto::ListOrder::Trust) => Ok(ListOrder::Trust),
        Ok(proto::ListOrder::Revenue) => Ok(ListOrder::Revenue),
        Err(_) => Err(ValidationError::single(
            field,
            format!("{raw} is not a known ListOrder value"),
        )),
    }
}
