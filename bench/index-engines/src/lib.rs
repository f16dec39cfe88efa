//! The log's two indexes (account, revision → position; event id → position) in three
//! engines: relledger's own index (memtable, run files, Bloom filters, merges), fjall and redb.
//! The workload, the engines behind one trait, and the measurements of one engine; `main.rs`
//! runs each engine in a process of its own and prints the table.
//!
//! The workload: `accounts × per_account` events appended in groups of `group` appends of one
//! event, the way the log's writer adds them once a group is durable: positions gapless, each
//! event a random version 4 UUID, accounts named `acct-N` as the benches name them. Every
//! round of `accounts` events holds one event of each account, in an order shuffled per
//! round, so that every account has events all along the log.

use std::error::Error;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use relledger::domain::{AccountId, EventId};
use relledger::store::file::index_comparison::{self, Entry};

pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The engines compared, by the name the command line uses.
pub const ENGINES: [&str; 3] = ["relledger", "fjall", "redb"];

/// The workload's size and shape.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub accounts: u64,
    pub per_account: u64,
    /// Appends (of one event each) per group.
    pub group: u64,
    /// Lookups of each kind.
    pub lookups: u64,
    /// The records of relledger's memtable (the log's default: `FLUSH_RECORDS`).
    pub flush_records: u64,
}

/// Multipliers tried for the per-round shuffle; the first coprime with the account count is used.
const MULTIPLIERS: [u64; 4] = [7919, 7927, 7933, 7937];
const ROUND_STEP: u64 = 104_729;
const PRESENT_SEED: u64 = 0x5EED_0001;
const ABSENT_SEED: u64 = 0x5EED_0002;
/// Frame bytes per record that relledger's index is told about (it only records them).
const FRAME_BYTES: u64 = 450;

impl Workload {
    pub fn events(&self) -> u64 {
        self.accounts * self.per_account
    }

    fn multiplier(&self) -> u64 {
        MULTIPLIERS
            .into_iter()
            .find(|m| gcd(*m, self.accounts) == 1)
            .expect("an account count coprime with one of the multipliers")
    }

    /// The account of the event at `position`.
    pub fn account_at(&self, position: u64) -> u64 {
        let (round, slot) = (position / self.accounts, position % self.accounts);
        (slot * self.multiplier() + round * ROUND_STEP) % self.accounts
    }

    /// The position of `account`'s event of `revision`.
    pub fn position(&self, account: u64, revision: u64) -> u64 {
        let n = self.accounts;
        let inverse = mod_inverse(self.multiplier(), n);
        let shifted = (account + n - (revision * ROUND_STEP) % n) % n;
        revision * n + (u128::from(shifted) * u128::from(inverse) % u128::from(n)) as u64
    }

    /// The event id of the event at `position`: a random-looking version 4 UUID.
    pub fn id(&self, position: u64) -> EventId {
        uuid_from(PRESENT_SEED, position)
    }

    /// An id that no event has.
    pub fn absent_id(&self, n: u64) -> EventId {
        uuid_from(ABSENT_SEED, n)
    }
}

pub fn account_name(account: u64) -> AccountId {
    AccountId::parse(format!("acct-{account}")).expect("a valid account id")
}

fn uuid_from(seed: u64, n: u64) -> EventId {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&mix(seed ^ mix(n)).to_le_bytes());
    bytes[8..].copy_from_slice(&mix(seed.rotate_left(17) ^ mix(n ^ 0xA5A5)).to_le_bytes());
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    EventId::from_uuid(uuid).expect("not the nil UUID")
}

/// splitmix64's finaliser.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn mod_inverse(a: u64, n: u64) -> u64 {
    let (mut t, mut new_t, mut r, mut new_r) = (0i128, 1i128, i128::from(n), i128::from(a % n));
    while new_r != 0 {
        let q = r / new_r;
        (t, new_t) = (new_t, t - q * new_t);
        (r, new_r) = (new_r, r - q * new_r);
    }
    (t.rem_euclid(i128::from(n))) as u64
}

/// The two indexes in one engine.
pub trait Engine {
    /// Adds a durable group's entries (positions continue the last group's); `to`: the
    /// position after the group.
    fn add_group(&mut self, entries: &[Entry], to: u64) -> Result<()>;
    /// Persists everything and waits until the engine's background work is done.
    fn finish(&mut self, to: u64) -> Result<()>;
    fn position_of(&self, id: &EventId) -> Result<Option<u64>>;
    fn last_revision(&self, account: &AccountId) -> Result<Option<u64>>;
    fn positions(&self, account: &AccountId, revisions: Range<u64>) -> Result<Vec<u64>>;
}

/// Opens `engine` in the empty directory `dir`.
pub fn open(engine: &str, dir: &Path, workload: &Workload) -> Result<Box<dyn Engine>> {
    Ok(match engine {
        "relledger" => Box::new(Relledger::open(dir, workload.flush_records)?),
        "fjall" => Box::new(Fjall::open(dir)?),
        "redb" => Box::new(Redb::open(dir)?),
        other => return Err(format!("no engine {other:?}; one of {ENGINES:?}").into()),
    })
}

/// Appends the whole workload; returns the wall time, and how much of it `finish` took.
pub fn append_all(engine: &mut dyn Engine, workload: &Workload) -> Result<(Duration, Duration)> {
    let accounts: Vec<AccountId> = (0..workload.accounts).map(account_name).collect();
    let events = workload.events();
    let started = Instant::now();
    let mut entries = Vec::with_capacity(workload.group as usize);
    let mut position = 0;
    while position < events {
        let to = (position + workload.group).min(events);
        entries.clear();
        for p in position..to {
            let account = workload.account_at(p);
            entries.push(Entry {
                position: p,
                account: accounts[account as usize].clone(),
                revision: p / workload.accounts,
                id: workload.id(p),
            });
        }
        engine.add_group(&entries, to)?;
        if to * 10 / events != position * 10 / events {
            eprintln!("  {to} events after {:.1?}", started.elapsed());
        }
        position = to;
    }
    let finishing = Instant::now();
    engine.finish(events)?;
    Ok((started.elapsed(), finishing.elapsed()))
}

/// The kinds of lookup measured.
pub const LOOKUPS: [&str; 4] = [
    "present event id",
    "absent event id",
    "last revision",
    "stream range",
];

/// One lookup of kind `kind` (an index of [`LOOKUPS`]) chosen by `n`; checks the answer and
/// returns it.
pub fn lookup(engine: &dyn Engine, workload: &Workload, kind: usize, n: u64) -> Result<Vec<u64>> {
    let pick = mix(n ^ (kind as u64) << 56);
    match kind {
        0 => {
            let position = pick % workload.events();
            let found = engine.position_of(&workload.id(position))?;
            check(found == Some(position), || {
                format!("id of {position}: {found:?}")
            })?;
            Ok(found.into_iter().collect())
        }
        1 => {
            let found = engine.position_of(&workload.absent_id(pick))?;
            check(found.is_none(), || format!("absent id {pick}: {found:?}"))?;
            Ok(found.into_iter().collect())
        }
        2 => {
            let account = pick % workload.accounts;
            let found = engine.last_revision(&account_name(account))?;
            check(found == Some(workload.per_account - 1), || {
                format!("last revision of {account}: {found:?}")
            })?;
            Ok(found.into_iter().collect())
        }
        _ => {
            let account = pick % workload.accounts;
            let revisions = 0..workload.per_account.min(200);
            let found = engine.positions(&account_name(account), revisions.clone())?;
            let expected: Vec<u64> = revisions.map(|r| workload.position(account, r)).collect();
            check(found == expected, || {
                format!("positions of {account}: {found:?}")
            })?;
            Ok(found)
        }
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("wrong answer: {}", what()).into())
    }
}

/// Latencies of one kind of lookup.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Times `workload.lookups` lookups of each kind.
pub fn time_lookups(engine: &dyn Engine, workload: &Workload) -> Result<Vec<Latency>> {
    let mut result = Vec::new();
    for kind in 0..LOOKUPS.len() {
        let mut times = Vec::with_capacity(workload.lookups as usize);
        for n in 0..workload.lookups {
            let started = Instant::now();
            let answer = lookup(engine, workload, kind, n)?;
            times.push(started.elapsed());
            std::hint::black_box(answer);
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        result.push(Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        });
    }
    Ok(result)
}

/// The process's resident memory now and at its peak (`VmRSS`, `VmHWM`), in bytes.
pub fn resident_memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The bytes the files under `dir` take on disk (allocated blocks).
pub fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// relledger's index, driven as the log's writer drives it.
struct Relledger {
    index: index_comparison::Index,
    end: u64,
}

impl Relledger {
    fn open(dir: &Path, flush_records: u64) -> Result<Relledger> {
        let index = index_comparison::Index::open(dir, flush_records)?;
        Ok(Relledger { index, end: 0 })
    }
}

impl Engine for Relledger {
    fn add_group(&mut self, entries: &[Entry], to: u64) -> Result<()> {
        self.index.add_group(entries, to * FRAME_BYTES);
        self.end = to;
        Ok(())
    }

    fn finish(&mut self, to: u64) -> Result<()> {
        Ok(self.index.finish(to * FRAME_BYTES)?)
    }

    fn position_of(&self, id: &EventId) -> Result<Option<u64>> {
        Ok(self.index.position_of(id, self.end)?)
    }

    fn last_revision(&self, account: &AccountId) -> Result<Option<u64>> {
        Ok(self.index.last_revision(account, self.end)?)
    }

    fn positions(&self, account: &AccountId, revisions: Range<u64>) -> Result<Vec<u64>> {
        Ok(self.index.positions(account, revisions)?)
    }
}

/// The stream index's key in fjall: the account id (length first, so that no id is a prefix
/// of another's key), then the revision, big-endian.
fn stream_key(account: &str, revision: u64) -> Vec<u8> {
    let mut key = stream_prefix(account);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

fn stream_prefix(account: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + account.len() + 8);
    key.push(account.len() as u8);
    key.extend_from_slice(account.as_bytes());
    key
}

fn u64_of(bytes: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| "not a u64")?;
    Ok(u64::from_be_bytes(bytes))
}

/// fjall: two keyspaces in one database, one batch per group (written to the journal
/// without fsync), the journal synced at the end.
struct Fjall {
    db: fjall::Database,
    ids: fjall::Keyspace,
    streams: fjall::Keyspace,
}

impl Fjall {
    fn open(dir: &Path) -> Result<Fjall> {
        let db = fjall::Database::builder(dir).open()?;
        let ids = db.keyspace("ids", fjall::KeyspaceCreateOptions::default)?;
        let streams = db.keyspace("streams", fjall::KeyspaceCreateOptions::default)?;
        Ok(Fjall { db, ids, streams })
    }
}

impl Engine for Fjall {
    fn add_group(&mut self, entries: &[Entry], _to: u64) -> Result<()> {
        let mut batch = self.db.batch();
        for entry in entries {
            let position = entry.position.to_be_bytes();
            batch.insert(&self.ids, &entry.id.as_bytes()[..], &position[..]);
            let key = stream_key(entry.account.as_str(), entry.revision);
            batch.insert(&self.streams, &key[..], &position[..]);
        }
        Ok(batch.commit()?)
    }

    fn finish(&mut self, _to: u64) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        // As relledger's index at a close: the memtables written as tables, then the
        // compactions they start.
        self.ids.rotate_memtable_and_wait()?;
        self.streams.rotate_memtable_and_wait()?;
        let mut idle_since = None;
        loop {
            let idle = self.db.outstanding_flushes() == 0 && self.db.active_compactions() == 0;
            match (idle, idle_since) {
                (false, _) => idle_since = None,
                (true, None) => idle_since = Some(Instant::now()),
                (true, Some(since)) if since.elapsed() >= Duration::from_millis(200) => break,
                (true, Some(_)) => {}
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn position_of(&self, id: &EventId) -> Result<Option<u64>> {
        match self.ids.get(&id.as_bytes()[..])? {
            Some(value) => Ok(Some(u64_of(&value)?)),
            None => Ok(None),
        }
    }

    fn last_revision(&self, account: &AccountId) -> Result<Option<u64>> {
        let prefix = stream_prefix(account.as_str());
        match self.streams.prefix(&prefix).next_back() {
            Some(guard) => Ok(Some(u64_of(&guard.key()?[prefix.len()..])?)),
            None => Ok(None),
        }
    }

    fn positions(&self, account: &AccountId, revisions: Range<u64>) -> Result<Vec<u64>> {
        let (from, to) = (
            stream_key(account.as_str(), revisions.start),
            stream_key(account.as_str(), revisions.end),
        );
        self.streams
            .range(from..to)
            .map(|guard| u64_of(&guard.value()?))
            .collect()
    }
}

const REDB_IDS: redb::TableDefinition<&[u8; 16], u64> = redb::TableDefinition::new("ids");
const REDB_STREAMS: redb::TableDefinition<(&str, u64), u64> = redb::TableDefinition::new("streams");

/// redb: two tables in one file, one write transaction per group with `Durability::None`,
/// a durable commit at the end.
struct Redb {
    db: redb::Database,
}

impl Redb {
    fn open(dir: &Path) -> Result<Redb> {
        std::fs::create_dir_all(dir)?;
        let db = redb::Database::create(dir.join("index.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(REDB_IDS)?;
        tx.open_table(REDB_STREAMS)?;
        tx.commit()?;
        Ok(Redb { db })
    }
}

impl Engine for Redb {
    fn add_group(&mut self, entries: &[Entry], _to: u64) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::None)?;
        {
            let mut ids = tx.open_table(REDB_IDS)?;
            let mut streams = tx.open_table(REDB_STREAMS)?;
            for entry in entries {
                ids.insert(entry.id.as_bytes(), entry.position)?;
                streams.insert((entry.account.as_str(), entry.revision), entry.position)?;
            }
        }
        Ok(tx.commit()?)
    }

    fn finish(&mut self, _to: u64) -> Result<()> {
        // A durable commit makes the non-durable ones before it durable too.
        let tx = self.db.begin_write()?;
        tx.open_table(REDB_IDS)?;
        tx.commit()?;
        Ok(())
    }

    fn position_of(&self, id: &EventId) -> Result<Option<u64>> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REDB_IDS)?;
        let found = table.get(id.as_bytes())?.map(|value| value.value());
        Ok(found)
    }

    fn last_revision(&self, account: &AccountId) -> Result<Option<u64>> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REDB_STREAMS)?;
        let account = account.as_str();
        let last = table.range((account, 0)..=(account, u64::MAX))?.next_back();
        match last {
            Some(entry) => Ok(Some(entry?.0.value().1)),
            None => Ok(None),
        }
    }

    fn positions(&self, account: &AccountId, revisions: Range<u64>) -> Result<Vec<u64>> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REDB_STREAMS)?;
        let account = account.as_str();
        let range = table.range((account, revisions.start)..(account, revisions.end))?;
        range.map(|entry| Ok(entry?.1.value())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_s_positions_invert_its_accounts() {
        let workload = Workload {
            accounts: 1_000,
            per_account: 7,
            group: 64,
            lookups: 0,
            flush_records: 4_096,
        };
        let mut seen = vec![0u64; 1_000];
        for position in 0..workload.events() {
            let account = workload.account_at(position);
            assert_eq!(workload.position(account, seen[account as usize]), position);
            seen[account as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n == 7));
    }
}
