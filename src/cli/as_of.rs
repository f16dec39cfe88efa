//! `relledger as-of`: what the ledger said about an account when the log ended at a position.

use super::{print_json_line, refused, ClientArgs};
use crate::api::proto;
use crate::api::proto::relationships_client::RelationshipsClient;

/// Prints one account's relationship as of a global position (only the records up to it
/// count, judged as of the moment the log ended there), as one JSON line.
#[derive(Debug, Clone, clap::Args)]
pub struct AsOfArgs {
    /// The account.
    pub account: String,
    /// The global position (inclusive) the answer is as of.
    #[arg(long, value_name = "P")]
    pub position: u64,
    /// The server, and how to reach it.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `relledger as-of`.
pub async fn as_of(args: AsOfArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let request = proto::GetRelationshipRequest {
        account_id: args.account,
        as_of: Some(proto::get_relationship_request::AsOf::AsOfPosition(
            args.position,
        )),
        known_at_time: None,
        max_contributions: None,
    };
    let response = RelationshipsClient::new(channel)
        .get_relationship(request)
        .await
        .map_err(refused)?
        .into_inner();
    let relationship = response.relationship.unwrap_or_default();
    print_json_line(&mut std::io::stdout(), &relationship)?;
    Ok(())
}
