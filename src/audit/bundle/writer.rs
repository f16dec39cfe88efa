//! [`BundleWriter`]: writes a bundle line by line, each line checked by a [`BundleVerifier`] as
//! it is written.

use std::io::Write;

use super::{
    BundleLine, BundleSummary, BundleVerifier, Header, RecordLine, BUNDLE_FORMAT, BUNDLE_VERSION,
};
use crate::domain::{ChainHash, Timestamp};
use crate::store::SignedCheckpoint;

/// Writes a bundle, verifying each line as it goes.
pub struct BundleWriter<W: Write> {
    /// Where the lines go.
    out: W,
    /// The same checks an auditor runs, over what is written.
    verifier: BundleVerifier,
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle of `record_count` records from `from_position` (linking to `prev_hash`).
    pub fn start(
        mut out: W,
        from_position: u64,
        record_count: u64,
        prev_hash: ChainHash,
        exported_at: Timestamp,
    ) -> anyhow::Result<BundleWriter<W>> {
        let header = BundleLine::Header(Header {
            format: BUNDLE_FORMAT.to_string(),
            version: BUNDLE_VERSION,
            from_position,
            to_position: record_count.checked_sub(1).map(|n| from_position + n),
            record_count,
            prev_hash: prev_hash.to_hex(),
            exported_at: exported_at.unix_nanos(),
        });
        let mut verifier = BundleVerifier::new(None);
        write_line(&mut out, &mut verifier, &header)?;
        Ok(BundleWriter { out, verifier })
    }

    /// Writes a record line.
    pub fn record(&mut self, record: RecordLine) -> anyhow::Result<()> {
        write_line(
            &mut self.out,
            &mut self.verifier,
            &BundleLine::Record(record),
        )
    }

    /// Writes a checkpoint line; it must follow the record it signs.
    pub fn checkpoint(&mut self, checkpoint: &SignedCheckpoint) -> anyhow::Result<()> {
        let line = BundleLine::Checkpoint(checkpoint.into());
        write_line(&mut self.out, &mut self.verifier, &line)
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.verifier.records()
    }

    /// Flushes the output and checks the bundle is complete.
    pub fn finish(mut self) -> anyhow::Result<BundleSummary> {
        self.out.flush()?;
        Ok(self.verifier.finish()?)
    }
}

fn write_line(
    out: &mut impl Write,
    verifier: &mut BundleVerifier,
    line: &BundleLine,
) -> anyhow::Result<()> {
    let text = serde_json::to_string(line)?;
    verifier.push_line(&text)?;
    writeln!(out, "{text}")?;
    Ok(())
}
