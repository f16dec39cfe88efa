//! `relledger key`: prints the public key a data dir's server signs checkpoints with.

use std::path::PathBuf;

use crate::audit::key::{load, public_key_hex};

/// Prints the Ed25519 public key of a data dir (64 hex digits), for auditors to pin.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// The server's data dir (it may be running: the key file is only read).
    #[arg(long, env = "RELLEDGER_DATA_DIR", default_value = "./relledger-data")]
    pub data_dir: PathBuf,
}

/// Runs `relledger key`.
pub async fn key(args: KeyArgs) -> anyhow::Result<()> {
    let key = load(&args.data_dir)?;
    println!("{}", public_key_hex(&key.verifying_key()));
    Ok(())
}
