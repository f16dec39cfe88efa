//! A blocked Bloom filter over event ids: one per index run, kept in memory, so that an
//! append's idempotency check (is this id recorded?) costs no read for the runs that cannot
//! hold the id, which for a new id is nearly all of them.
//!
//! Blocked: each id's bits all fall in one 512-bit block (one cache line), chosen by one half
//! of the id's hash; the other half picks the bits. About ten bits per id give a false
//! positive rate near 1%; a false positive costs one read of the run's id section.
//!
//! The filter is stored in the run file, so the hash must never change: it is spelled out here
//! (splitmix64's finaliser, mixing the id's two halves), not taken from `std`, whose hashers may
//! differ between builds.

/// Bits per id.
const BITS_PER_ID: u64 = 10;
/// 64-bit words per block: 512 bits, one cache line.
const BLOCK_WORDS: usize = 8;
/// Bits set per id.
const PROBES: u32 = 7;

/// The filter: `words.len()` is a multiple of [`BLOCK_WORDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// An empty filter sized for `ids` ids.
    pub(crate) fn with_capacity(ids: u64) -> Bloom {
        let bits = ids.max(1).saturating_mul(BITS_PER_ID);
        let blocks = bits.div_ceil(64 * BLOCK_WORDS as u64).max(1);
        let words = usize::try_from(blocks).unwrap_or(usize::MAX / BLOCK_WORDS) * BLOCK_WORDS;
        Bloom {
            words: vec![0; words],
        }
    }

    /// A filter stored as `words` (from [`Bloom::words`]); `None` if they cannot be one.
    pub(crate) fn from_words(words: Vec<u64>) -> Option<Bloom> {
        (!words.is_empty() && words.len().is_multiple_of(BLOCK_WORDS)).then_some(Bloom { words })
    }

    /// The stored form.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Adds `id`.
    pub(crate) fn insert(&mut self, id: &[u8; 16]) {
        let (block, mut bits) = self.locate(id);
        for _ in 0..PROBES {
            let bit = (bits & 511) as usize;
            self.words[block + bit / 64] |= 1 << (bit % 64);
            bits >>= 9;
        }
    }

    /// Whether `id` may have been added: `false` means it certainly was not.
    pub(crate) fn may_contain(&self, id: &[u8; 16]) -> bool {
        let (block, mut bits) = self.locate(id);
        (0..PROBES).all(|_| {
            let bit = (bits & 511) as usize;
            bits >>= 9;
            self.words[block + bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    /// The first word of `id`'s block, and the hash bits that pick its bits (9 per probe).
    fn locate(&self, id: &[u8; 16]) -> (usize, u64) {
        let (high, low) = id.split_at(8);
        let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let low = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let block_hash = mix(mix(high) ^ low.rotate_left(29));
        let bit_hash = mix(block_hash ^ high);
        let blocks = (self.words.len() / BLOCK_WORDS) as u64;
        let block = ((u128::from(block_hash) * u128::from(blocks)) >> 64) as usize;
        (block * BLOCK_WORDS, bit_hash)
    }
}

/// splitmix64's finaliser: every input bit affects every output bit.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
