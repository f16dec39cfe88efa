//! The clients of the append, contention and read workloads, the accounts they open before the
//! measured phase, and the events they append.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::Barrier;
use tonic_types::StatusExt as _;

use super::{report, BenchArgs, Budget, ClientChannel, Tally, Workload, OPENING_EVENTS};
use crate::api::convert::expected_revision_to_proto;
use crate::api::proto::ledger_client::LedgerClient;
use crate::api::proto::proposed_event::Payload;
use crate::api::proto::relationships_client::RelationshipsClient;
use crate::api::proto::{self, AppendRequest};
use crate::store::ExpectedRevision;

/// The accounts opened before the measured phase.
pub(super) struct Setup {
    /// The accounts, named after the run so that runs never collide.
    pub(super) accounts: Vec<String>,
}

impl Setup {
    pub(super) async fn new(
        args: &BenchArgs,
        run_id: &str,
        channels: &[ClientChannel],
    ) -> anyhow::Result<Setup> {
        let count = match args.workload {
            Workload::Append1 | Workload::Append10 | Workload::Fairness | Workload::Mixed => {
                args.accounts.max(args.clients)
            }
            Workload::Read => args.accounts.max(1),
            Workload::Contention => args.hot_accounts,
            Workload::Subscribe => 1,
        };
        Setup::open(run_id, count, args.workload == Workload::Read, channels).await
    }

    /// Opens `count` accounts named after `run_id` over `channels`, with eight visits each
    /// when `with_history` is set.
    pub(super) async fn open(
        run_id: &str,
        count: u64,
        with_history: bool,
        channels: &[ClientChannel],
    ) -> anyhow::Result<Setup> {
        let accounts: Vec<String> = (0..count).map(|i| format!("bench-{run_id}-{i}")).collect();
        // Opened concurrently, one task per client connection.
        let mut tasks = Vec::new();
        for (c, channel) in channels.iter().enumerate() {
            let mine: Vec<String> = accounts
                .iter()
                .skip(c)
                .step_by(channels.len())
                .cloned()
                .collect();
            let mut ledger = LedgerClient::new(channel.clone());
            tasks.push(tokio::spawn(async move {
                for account in mine {
                    let mut events: Vec<proto::ProposedEvent> =
                        account_opening(format!("Bench {account}"))
                            .into_iter()
                            .map(event)
                            .collect();
                    if with_history {
                        events.extend((0..8).map(|_| visit()));
                    }
                    let request = AppendRequest {
                        account_id: account.clone(),
                        expected_revision: Some(expected_revision_to_proto(
                            ExpectedRevision::NoStream,
                        )),
                        events,
                    };
                    loop {
                        match ledger.append(request.clone()).await {
                            Ok(_) => break,
                            // A principal with low limits opens its accounts at its own pace:
                            // the refused request appended nothing, so it is sent again.
                            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                                let delay =
                                    status.get_details_retry_info().and_then(|r| r.retry_delay);
                                tokio::time::sleep(delay.unwrap_or(Duration::from_millis(100)))
                                    .await;
                            }
                            Err(status) => {
                                return Err(anyhow::Error::new(status)
                                    .context(format!("cannot open the account {account}")));
                            }
                        }
                    }
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await.context("an opening task failed")??;
        }
        Ok(Setup { accounts })
    }

    /// The accounts client `index` of `clients` works on: its own share for appends, all of
    /// them for reads and contention.
    pub(super) fn accounts_of(&self, index: usize, clients: usize) -> Vec<String> {
        if self.accounts.len() >= clients && self.accounts.len() > 1 {
            let own: Vec<String> = self
                .accounts
                .iter()
                .skip(index)
                .step_by(clients)
                .cloned()
                .collect();
            if !own.is_empty() {
                return own;
            }
        }
        self.accounts.clone()
    }
}

/// One client of the append, contention and read workloads.
pub(super) struct Client {
    /// What it does.
    pub(super) workload: Workload,
    /// Its number, which picks its accounts and spreads its reads.
    pub(super) index: usize,
    /// Its Ledger client, on its own connection.
    pub(super) ledger: LedgerClient<ClientChannel>,
    /// Its Relationships client, on the same connection.
    pub(super) relationships: RelationshipsClient<ClientChannel>,
    /// The accounts it appends to or reads.
    pub(super) accounts: Vec<String>,
    /// The run's shared call budget or deadline.
    pub(super) budget: Arc<Budget>,
    /// Calls done across all clients, for the progress bar.
    pub(super) done: Arc<AtomicU64>,
    /// Releases every client at once.
    pub(super) barrier: Arc<Barrier>,
}

impl Client {
    pub(super) async fn run(mut self) -> anyhow::Result<Tally> {
        let mut tally = Tally::new();
        // Contention: the revision this client believes each hot account is at.
        let mut revisions: HashMap<String, u64> = HashMap::new();
        for account in &self.accounts {
            revisions.insert(account.clone(), OPENING_EVENTS - 1);
        }
        // Every client starts at once, so contention begins with a real race.
        self.barrier.wait().await;
        let mut n = self.index;
        while self.budget.take() {
            let account = self.accounts[n % self.accounts.len()].clone();
            n += 1;
            let started = Instant::now();
            match self.workload {
                Workload::Append1 | Workload::Append10 => {
                    let size = if self.workload == Workload::Append1 {
                        1
                    } else {
                        10
                    };
                    let result = self
                        .ledger
                        .append(AppendRequest {
                            account_id: account,
                            expected_revision: None,
                            events: (0..size).map(|_| visit()).collect(),
                        })
                        .await;
                    report::record(&mut tally.latency, started.elapsed());
                    match result {
                        Ok(_) => {
                            tally.ok += 1;
                            tally.events += size;
                        }
                        Err(status) => tally.error(&status),
                    }
                }
                Workload::Contention => {
                    let expected = revisions[&account];
                    let result = self
                        .ledger
                        .append(AppendRequest {
                            account_id: account.clone(),
                            expected_revision: Some(expected_revision_to_proto(
                                ExpectedRevision::Exact(expected),
                            )),
                            events: vec![visit()],
                        })
                        .await;
                    report::record(&mut tally.latency, started.elapsed());
                    match result {
                        Ok(response) => {
                            tally.ok += 1;
                            tally.events += 1;
                            revisions.insert(account, response.into_inner().last_revision);
                        }
                        Err(status) if status.code() == tonic::Code::Aborted => {
                            tally.conflicts += 1;
                            // Read the revision, then retry on the next turn (same account).
                            let revision = last_revision(&mut self.ledger, &account).await?;
                            revisions.insert(account, revision);
                            n -= 1;
                        }
                        Err(status) => tally.error(&status),
                    }
                }
                Workload::Read => {
                    let result = self
                        .relationships
                        .get_relationship(proto::GetRelationshipRequest {
                            account_id: account,
                            ..Default::default()
                        })
                        .await;
                    report::record(&mut tally.latency, started.elapsed());
                    match result {
                        Ok(_) => tally.ok += 1,
                        Err(status) => tally.error(&status),
                    }
                }
                Workload::Subscribe | Workload::Fairness | Workload::Mixed => {
                    unreachable!("this workload has clients of its own")
                }
            }
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(tally)
    }
}

/// The revision of the last event of `account`'s stream.
pub(super) async fn last_revision(
    ledger: &mut LedgerClient<ClientChannel>,
    account: &str,
) -> anyhow::Result<u64> {
    let mut stream = ledger
        .read_stream(proto::ReadStreamRequest {
            account_id: account.to_string(),
            from_revision: None,
            direction: proto::Direction::Backwards as i32,
            max_count: 1,
        })
        .await
        .with_context(|| format!("cannot read the stream of {account}"))?
        .into_inner();
    let last = stream
        .message()
        .await
        .with_context(|| format!("cannot read the stream of {account}"))?
        .with_context(|| format!("the stream of {account} is empty"))?;
    Ok(last.revision)
}

/// A fresh event with `payload`, occurring a minute ago.
/// The opening of a load-generator account named `name`: the account and its decision maker
/// (`c1`), whom the workloads' visits name.
pub fn account_opening(name: String) -> [Payload; 2] {
    [
        Payload::AccountOpened(proto::AccountOpened {
            name,
            segment: proto::AccountSegment::Key as i32,
            owner: "bench".into(),
            industry: "ready-mix concrete".into(),
            region: "east".into(),
        }),
        Payload::ContactAdded(proto::ContactAdded {
            contact_id: "c1".into(),
            name: "Zhang".into(),
            role: proto::ContactRole::DecisionMaker as i32,
            title: "chief engineer".into(),
            ..Default::default()
        }),
    ]
}

fn event(payload: Payload) -> proto::ProposedEvent {
    // A minute ago, well inside the accepted clock skew.
    let now = crate::clock::now().unix_nanos() / 1_000_000_000;
    proto::ProposedEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: now - 60,
            nanos: 0,
        }),
        actor: "bench".into(),
        metadata: Default::default(),
        payload: Some(payload),
    }
}

/// A visit to contact `c1`, the event the append workloads write.
/// An append of one visit to `account`, with no revision check: the unit of every workload that
/// times single appends.
pub(super) fn one_visit(account: String) -> AppendRequest {
    AppendRequest {
        account_id: account,
        expected_revision: None,
        events: vec![visit()],
    }
}

pub(super) fn visit() -> proto::ProposedEvent {
    event(Payload::Visit(proto::Visit {
        contact_ids: vec!["c1".into()],
        purpose: "deliver the test report".into(),
        summary: "asked about winter curing".into(),
        next_visit_on: None,
        next_visit_pretext: String::new(),
    }))
}
