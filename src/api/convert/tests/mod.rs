//! Tests of the conversions: round trips of every event type, the structural violations
//! reported with their paths, and hostile input.

mod fixture;
mod hostile;
mod projection;
mod round_trip;
mod violations;
