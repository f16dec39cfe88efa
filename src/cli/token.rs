//! `relledger token`: makes and revokes the bearer tokens of the auth file.
//!
//! A new token is printed once, on stdout, and only its SHA-256 reaches the file. A running
//! server puts a changed file in force on SIGHUP; until then it keeps the principals it has.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::auth::principals::FileEntries;
use crate::auth::{Role, Token, TokenHash};

/// What to do with the auth file's tokens.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a new token for a principal (created if new) and print it once on stdout.
    Create(CreateArgs),
    /// Revoke one token, or a whole principal with every token it has.
    Revoke(RevokeArgs),
}

/// `relledger token create`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// The auth file; created if missing.
    #[arg(long, value_name = "FILE", env = "RELLEDGER_AUTH_FILE")]
    pub auth_file: PathBuf,
    /// The principal the token stands for.
    #[arg(long)]
    pub name: String,
    /// A role of a new principal (repeatable).
    #[arg(long = "role", value_enum)]
    pub roles: Vec<Role>,
    /// An account-id prefix a new principal is limited to (repeatable); none means every
    /// account.
    #[arg(long = "account-prefix", value_name = "PREFIX")]
    pub account_prefixes: Vec<String>,
}

/// `relledger token revoke`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["token", "name"])))]
pub struct RevokeArgs {
    /// The auth file.
    #[arg(long, value_name = "FILE", env = "RELLEDGER_AUTH_FILE")]
    pub auth_file: PathBuf,
    /// The token to revoke.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The principal to remove, with every token and certificate subject it has.
    #[arg(long)]
    pub name: Option<String>,
}

/// Runs `relledger token`.
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let token = create(&args)?;
            println!("{}", token.expose());
            eprintln!(
                "token for principal {:?} written to {} (as its SHA-256); it is shown only now. A running server takes it on SIGHUP.",
                args.name,
                args.auth_file.display()
            );
            Ok(())
        }
        TokenCommand::Revoke(args) => {
            revoke(&args)?;
            eprintln!(
                "revoked in {}; a running server stops accepting it on SIGHUP.",
                args.auth_file.display()
            );
            Ok(())
        }
    }
}

/// Adds a new token to the file and returns it. The file is checked whole before it is
/// written, so a command that would make it invalid changes nothing.
pub fn create(args: &CreateArgs) -> anyhow::Result<Token> {
    let mut file = FileEntries::read_or_empty(&args.auth_file)?;
    let token = Token::generate().context("cannot draw a random token")?;
    file.add_token(
        &args.name,
        &args.roles,
        &args.account_prefixes,
        token.hash(),
    )
    .map_err(anyhow::Error::msg)?;
    file.check(&args.auth_file)?;
    file.write(&args.auth_file)?;
    Ok(token)
}

/// Removes a token or a principal from the file.
pub fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    let mut file = FileEntries::read(&args.auth_file)?;
    if let Some(token) = &args.token {
        if !file.revoke_token(TokenHash::of(token.trim())) {
            anyhow::bail!(
                "no principal in {} has that token",
                args.auth_file.display()
            );
        }
    }
    if let Some(name) = &args.name {
        if !file.remove_principal(name) {
            anyhow::bail!("{} has no principal {name:?}", args.auth_file.display());
        }
    }
    file.check(&args.auth_file)?;
    file.write(&args.auth_file)?;
    Ok(())
}
