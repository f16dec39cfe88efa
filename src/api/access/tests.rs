use prost::Message as _;

use super::table::{self, RPCS};
use crate::api::proto;

/// Every method of every service in the relledger protos, as `/package.Service/Method`.
fn methods_of_the_protos() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                paths.push(format!("/{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    paths
}

#[test]
fn every_rpc_of_every_service_has_a_row_in_the_table() {
    let methods = methods_of_the_protos();
    assert!(
        methods.len() >= 18,
        "the descriptor set lost its services: {methods:?}"
    );
    let unguarded: Vec<&String> = methods
        .iter()
        .filter(|path| table::find(path).is_none())
        .collect();
    assert!(
        unguarded.is_empty(),
        "RPCs without a row in api::access::table::RPCS (say which roles may call them): {unguarded:?}"
    );
    let stale: Vec<&str> = RPCS
        .iter()
        .map(|rpc| rpc.path)
        .filter(|path| !methods.iter().any(|m| m == path))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for RPCs the protos do not have: {stale:?}"
    );
    assert!(methods.iter().all(|path| !table::is_open(path)));
}

#[test]
fn health_and_reflection_stay_open() {
    assert!(table::is_open("/grpc.health.v1.Health/Check"));
    assert!(table::is_open(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    ));
    assert!(table::is_open(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    ));
    assert!(!table::is_open("/relledger.v1.Ledger/Append"));
}

#[test]
fn a_refusal_names_the_roles_that_would_do() {
    let append = table::find("/relledger.v1.Ledger/Append").unwrap();
    assert_eq!(table::needed(append), "writer or admin");
    let forget = table::find("/relledger.v1.Ledger/ForgetContact").unwrap();
    assert_eq!(table::needed(forget), "admin");
    assert_eq!(table::short_name(append.path), "Ledger/Append");
}

#[test]
fn a_refusal_over_a_limit_is_held_between_the_floor_and_the_ceiling() {
    use super::{refusal_hold, REFUSAL_HOLD_MAX, REFUSAL_HOLD_MIN};
    use std::time::Duration;
    assert_eq!(refusal_hold(Duration::from_micros(500)), REFUSAL_HOLD_MIN);
    assert_eq!(
        refusal_hold(Duration::from_millis(40)),
        Duration::from_millis(40)
    );
    assert_eq!(refusal_hold(Duration::from_secs(1)), REFUSAL_HOLD_MAX);
}
