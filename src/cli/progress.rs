//! Progress bars of the long-running operator commands: on stderr, hidden when stderr is not
//! a terminal, so scripts and logs see only the final count.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `what` up to `total` (adjustable later with `set_length`).
pub(super) fn bar(total: u64, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} records ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what);
    bar
}

/// The `--public-key` argument as a key.
pub(super) fn public_key(
    text: Option<&str>,
) -> anyhow::Result<Option<ed25519_dalek::VerifyingKey>> {
    text.map(|text| {
        crate::audit::key::parse_public_key(text)
            .map_err(|reason| anyhow::anyhow!("--public-key is not valid: {reason}"))
    })
    .transpose()
}
