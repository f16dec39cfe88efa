//! `relledger forget`: erase a contact's personal data (`Ledger.ForgetContact`).

use super::{connect, print_json_line, refused, ClientArgs};
use crate::api::proto;

/// Forgets one contact of one account: the server destroys the contact's data key and records
/// a `contact_forgotten` event. Prints the answer as one JSON line.
#[derive(Debug, Clone, clap::Args)]
pub struct ForgetArgs {
    /// The account.
    #[arg(long)]
    pub account: String,
    /// The contact, as its `contact_added` named it.
    #[arg(long)]
    pub contact: String,
    /// Why (the erasure request's reference); recorded in the event, so never personal data.
    #[arg(long)]
    pub reason: String,
    /// Who asks, recorded as the event's actor (the server's default when omitted).
    #[arg(long, default_value = "")]
    pub actor: String,
    /// The server, and how to reach it.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `relledger forget`.
pub async fn forget(args: ForgetArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    let response = client
        .forget_contact(proto::ForgetContactRequest {
            account_id: args.account,
            contact_id: args.contact,
            reason: args.reason,
            actor: args.actor,
        })
        .await
        .map_err(refused)?
        .into_inner();
    print_json_line(&mut std::io::stdout(), &response)?;
    Ok(())
}
