pub mod proto;
pub mod convert;
