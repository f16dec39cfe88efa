//! Resident memory of sled 0.34 alone (the vendored copy), per event, for three key layouts: a
//! plain binary that answers "does taking the records out of sled bring the memory per account
//! under 4 KB?" without the rest of the server in the way.
//!
//! It writes `SLED_MEMORY_ACCOUNTS` accounts (default 20,000) of `SLED_MEMORY_EVENTS` events
//! each (default 200), interleaved as a real load is: in rounds, each round visiting every
//! account once in a fresh random order and appending one batch of 10 events to it. Each event
//! first looks up its (fresh, random) event id, as the writer's idempotency check does, then
//! adds its keys; `SLED_MEMORY_GROUP` events (default 64) go into one `apply_batch`, followed by
//! a `flush`, as a group commit does. sled is opened with a 64 MiB cache
//! (`SLED_MEMORY_CACHE_MB`) and `flush_every_ms(500)`, in a temp dir under `SLED_MEMORY_DIR`
//! (default the system's temp dir: put it on disk, not tmpfs).
//!
//! `SLED_MEMORY_VARIANT` picks the keys per event (the layout of `src/store/sled/keys.rs`):
//!
//! - `A`, today's layout: `L` + position -> the record (450 bytes), `S` + account + 0 +
//!   revision -> position, `E` + event id -> position + digest;
//! - `B`, records kept outside sled: only the `S` and `E` keys;
//! - `C`, as B plus `L` + position -> an 8-byte offset into a record file;
//! - `S` and `E`, to tell B's two keys apart: only the `S` keys, or only the `E` keys (the id
//!   lookup is done in every variant).
//!
//! It prints the resident memory (`VmRSS`) after each twentieth of the writes, and the marginal
//! bytes per event and per account between half and all of them (every account exists by half
//! way, so the second half adds events, not accounts), both from the two end points and as the
//! least-squares slope through every reading of the second half (less sensitive to the
//! allocator's steps). Run with
//! `SLED_MEMORY_VARIANT=B cargo run --release --example sled_memory`; results in
//! docs/BENCHMARKS.md ("sled alone").

use std::time::Instant;

/// The server's allocator (src/main.rs), so that resident memory means what it does there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events appended to one account per visit, as a client's append batch.
const BATCH: u64 = 10;
/// The size of a record in variant A: about what the codec writes for a typical event.
const RECORD_BYTES: usize = 450;
/// Resident memory is read after each of this many equal parts of the writes.
const STEPS: u64 = 20;

/// Which keys each event writes (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    A,
    B,
    C,
    /// Only the stream keys.
    S,
    /// Only the event-id keys.
    E,
}

impl Variant {
    fn record_key(self) -> bool {
        matches!(self, Variant::A | Variant::C)
    }

    fn stream_key(self) -> bool {
        self != Variant::E
    }

    fn id_key(self) -> bool {
        self != Variant::S
    }
}

/// A small, seeded generator (splitmix64): the figures should not depend on a run's luck, and
/// the example needs no extra dependency for it.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// A random UUID v4's 16 bytes, as event ids are.
    fn uuid_v4(&mut self) -> [u8; 16] {
        let mut id = [0; 16];
        self.fill(&mut id);
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        id
    }

    /// Shuffles `items` in place (Fisher-Yates).
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A number from the environment, or `default`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The process's resident memory from `/proc/self/status` (Linux), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The least-squares slope of resident bytes over events written, through `marks`.
fn slope(marks: &[(u64, u64)]) -> f64 {
    let n = marks.len() as f64;
    let mean_x = marks.iter().map(|&(x, _)| x as f64).sum::<f64>() / n;
    let mean_y = marks.iter().map(|&(_, y)| y as f64).sum::<f64>() / n;
    let (covariance, variance) = marks.iter().fold((0.0, 0.0), |(c, v), &(x, y)| {
        let dx = x as f64 - mean_x;
        (c + dx * (y as f64 - mean_y), v + dx * dx)
    });
    covariance / variance
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let variant = match std::env::var("SLED_MEMORY_VARIANT").as_deref() {
        Ok("A") | Err(_) => Variant::A,
        Ok("B") => Variant::B,
        Ok("C") => Variant::C,
        Ok("S") => Variant::S,
        Ok("E") => Variant::E,
        Ok(other) => {
            return Err(format!("SLED_MEMORY_VARIANT must be A, B, C, S or E, not {other}").into())
        }
    };
    let accounts = knob("SLED_MEMORY_ACCOUNTS", 20_000);
    let events_per_account = knob("SLED_MEMORY_EVENTS", 200);
    let group = knob("SLED_MEMORY_GROUP", 64).max(1);
    let cache_mb = knob("SLED_MEMORY_CACHE_MB", 64);
    if accounts == 0 || events_per_account == 0 || !events_per_account.is_multiple_of(BATCH) {
        return Err(format!("SLED_MEMORY_EVENTS must be a positive multiple of {BATCH}").into());
    }
    let parent = std::env::var_os("SLED_MEMORY_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(parent)?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(cache_mb << 20)
        .flush_every_ms(Some(500))
        .open()?;

    let total = accounts * events_per_account;
    println!(
        "variant {variant:?}: {accounts} accounts x {events_per_account} events = {total} events, \
         groups of {group}, cache {cache_mb} MiB, dir {}",
        dir.path().display()
    );
    let account_ids: Vec<String> = (0..accounts).map(|a| format!("acct-{a:06}")).collect();
    let mut rng = Rng(0x005e_ed0f_51ed);
    let mut order: Vec<usize> = (0..account_ids.len()).collect();
    let mut record = [0u8; RECORD_BYTES];
    let mut digest = [0u8; 32];
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut position: u64 = 0;
    let mut misses: u64 = 0;
    // After each twentieth: (events written, resident bytes).
    let mut marks: Vec<(u64, u64)> = vec![(0, resident_bytes())];
    let started = Instant::now();

    for round in 0..events_per_account / BATCH {
        rng.shuffle(&mut order);
        for &account in &order {
            for i in 0..BATCH {
                let revision = round * BATCH + i;
                let event_id = rng.uuid_v4();
                let mut id_key = Vec::with_capacity(17);
                id_key.push(b'E');
                id_key.extend_from_slice(&event_id);
                // The idempotency check: a fresh id, so it misses, but it reads the page.
                if db.get(&id_key)?.is_none() {
                    misses += 1;
                }

                if variant.record_key() {
                    let mut log_key = [0u8; 9];
                    log_key[0] = b'L';
                    log_key[1..].copy_from_slice(&position.to_be_bytes());
                    if variant == Variant::A {
                        rng.fill(&mut record);
                        batch.insert(&log_key, &record[..]);
                    } else {
                        let offset = position * RECORD_BYTES as u64;
                        batch.insert(&log_key, &offset.to_be_bytes());
                    }
                }

                if variant.stream_key() {
                    let id = account_ids[account].as_bytes();
                    let mut stream_key = Vec::with_capacity(1 + id.len() + 1 + 8);
                    stream_key.push(b'S');
                    stream_key.extend_from_slice(id);
                    stream_key.push(0);
                    stream_key.extend_from_slice(&revision.to_be_bytes());
                    batch.insert(stream_key, &position.to_be_bytes());
                }

                if variant.id_key() {
                    rng.fill(&mut digest);
                    let mut id_value = Vec::with_capacity(40);
                    id_value.extend_from_slice(&position.to_be_bytes());
                    id_value.extend_from_slice(&digest);
                    batch.insert(id_key, id_value);
                }

                position += 1;
                in_batch += 1;
                let step_done = position * STEPS / total != (position - 1) * STEPS / total;
                if in_batch == group || step_done {
                    db.apply_batch(std::mem::take(&mut batch))?;
                    db.flush()?;
                    in_batch = 0;
                }
                if step_done {
                    let resident = resident_bytes();
                    marks.push((position, resident));
                    println!(
                        "{:>3}%  {position:>9} events  resident {:>8.1} MB  on disk {:>8.1} MB  {:>6.1} s",
                        position * 100 / total,
                        megabytes(resident),
                        megabytes(db.size_on_disk()?),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
    assert_eq!(misses, total, "every event id is fresh");

    // The mark after `percent` of the writes.
    let at = |percent: u64| marks[(percent * STEPS / 100) as usize];
    println!(
        "resident at 25%, 50%, 75%, 100%: {:.1} MB, {:.1} MB, {:.1} MB, {:.1} MB",
        megabytes(at(25).1),
        megabytes(at(50).1),
        megabytes(at(75).1),
        megabytes(at(100).1)
    );
    let (half_events, half_resident) = at(50);
    let (all_events, all_resident) = at(100);
    let per_event =
        (all_resident as f64 - half_resident as f64) / (all_events - half_events) as f64;
    let slope = slope(&marks[marks.len() / 2..]);
    println!(
        "marginal, 50% to 100%: {per_event:.1} bytes per event, {:.2} KB per account of \
         {events_per_account} events (slope through the second half's readings: {slope:.1} bytes \
         per event, {:.2} KB per account); average over all: {:.2} KB per account; {:.0} events/s",
        per_event * events_per_account as f64 / 1024.0,
        slope * events_per_account as f64 / 1024.0,
        all_resident as f64 / accounts as f64 / 1024.0,
        total as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
