//! Tests of the conversions: round trips of every event type, and the structural violations
//! reported with their paths.

mod fixture;
mod projection;
mod round_trip;
mod violations;
