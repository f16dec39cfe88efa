//! Every RPC of every relledger service, with the roles that may call it: the one table the
//! access layer consults. An RPC missing here is refused to everyone, and a test fails when a
//! method of the protos has no row, so a new RPC cannot ship unguarded.

use crate::auth::limits::Class;
use crate::auth::Role;

/// What an RPC needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// The gRPC path, `/package.Service/Method`.
    pub path: &'static str,
    /// Any of these roles may call it (and `admin` may call every RPC).
    pub roles: &'static [Role],
    /// What it counts against in the caller's limits.
    pub class: Class,
    /// Whether it is about the whole log (the chain, its checkpoints, its keys), so that only a
    /// principal whose scope is every account may call it: a chain cannot be checked, nor a
    /// checkpoint signed, over a part of the accounts.
    pub every_account: bool,
}

const READERS: &[Role] = &[Role::Reader, Role::Writer];
const SUBSCRIBERS: &[Role] = &[Role::Subscriber];
const AUDITORS: &[Role] = &[Role::Auditor];
const ADMINS: &[Role] = &[Role::Admin];

const fn rpc(path: &'static str, roles: &'static [Role], class: Class) -> Rpc {
    Rpc {
        path,
        roles,
        class,
        every_account: false,
    }
}

const fn whole_log(path: &'static str, roles: &'static [Role], class: Class) -> Rpc {
    Rpc {
        path,
        roles,
        class,
        every_account: true,
    }
}

/// The table.
pub const RPCS: &[Rpc] = &[
    // relledger.v1.Ledger
    rpc(
        "/relledger.v1.Ledger/Append",
        &[Role::Writer],
        Class::Append,
    ),
    rpc("/relledger.v1.Ledger/ReadStream", READERS, Class::Stream),
    rpc("/relledger.v1.Ledger/ReadAll", READERS, Class::Stream),
    rpc("/relledger.v1.Ledger/Subscribe", SUBSCRIBERS, Class::Stream),
    rpc(
        "/relledger.v1.Ledger/AckSubscription",
        SUBSCRIBERS,
        Class::Read,
    ),
    rpc(
        "/relledger.v1.Ledger/ListSubscriptions",
        SUBSCRIBERS,
        Class::Read,
    ),
    rpc("/relledger.v1.Ledger/ForgetContact", ADMINS, Class::Append),
    // relledger.v1.Relationships
    rpc(
        "/relledger.v1.Relationships/GetRelationship",
        READERS,
        Class::Read,
    ),
    rpc(
        "/relledger.v1.Relationships/ListRelationships",
        READERS,
        Class::Read,
    ),
    rpc(
        "/relledger.v1.Relationships/ExplainChange",
        READERS,
        Class::Read,
    ),
    rpc(
        "/relledger.v1.Relationships/GetPortfolio",
        READERS,
        Class::Read,
    ),
    rpc(
        "/relledger.v1.Relationships/GiftRegister",
        AUDITORS,
        Class::Stream,
    ),
    rpc(
        "/relledger.v1.Relationships/SubscribeRelationshipChanges",
        SUBSCRIBERS,
        Class::Stream,
    ),
    // relledger.v1.Audit
    whole_log("/relledger.v1.Audit/VerifyChain", AUDITORS, Class::Read),
    whole_log("/relledger.v1.Audit/GetChainHead", AUDITORS, Class::Read),
    whole_log("/relledger.v1.Audit/GetSigningKey", AUDITORS, Class::Read),
    whole_log("/relledger.v1.Audit/SignCheckpoint", ADMINS, Class::Append),
    whole_log("/relledger.v1.Audit/Replay", AUDITORS, Class::Stream),
];

/// The services that stay open to everyone: a load balancer's health probe and a developer's
/// `grpcurl list` must work without credentials, and neither tells anything of the ledger.
pub const OPEN_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The row of `path`, if any.
pub fn find(path: &str) -> Option<&'static Rpc> {
    RPCS.iter().find(|rpc| rpc.path == path)
}

/// Whether `path` belongs to an open service.
pub fn is_open(path: &str) -> bool {
    OPEN_SERVICES
        .iter()
        .any(|service| path.starts_with(service))
}

/// The roles that may call `rpc`, spelled for a message: `reader or writer (or admin)`.
pub fn needed(rpc: &Rpc) -> String {
    let mut names: Vec<&str> = rpc.roles.iter().map(|role| role.name()).collect();
    if !rpc.roles.contains(&Role::Admin) {
        names.push("admin");
    }
    names.join(" or ")
}

/// `Service/Method` of a path, for messages.
pub fn short_name(path: &str) -> &str {
    path.trim_start_matches('/')
        .trim_start_matches("relledger.v1.")
}
