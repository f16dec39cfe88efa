//! The generated wire types of `relledger.v1`. Only `src/api/` may import this module.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("relledger.v1");
include!(concat!(env!("OUT_DIR"), "/relledger.v1.serde.rs"));

/// The encoded descriptor set served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("relledger_descriptor");
