//! The load generator's progress bar on stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The progress bar on stderr (hidden when stderr is not a terminal): calls done out of
/// `--requests`, or seconds out of `--duration`.
pub(super) struct Progress {
    pub(super) done: Arc<AtomicU64>,
    ticker: tokio::task::JoinHandle<()>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    pub(super) fn start(requests: Option<u64>, duration: Duration) -> Progress {
        use std::io::IsTerminal;
        let done = Arc::new(AtomicU64::new(0));
        let (total, by_time) = match requests {
            Some(n) => (n, false),
            None => (duration.as_secs().max(1), true),
        };
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let template = if by_time {
                "{msg:>16} [{bar:40}] {pos}/{len} s"
            } else {
                "{msg:>16} [{bar:40}] {pos}/{len} requests ({eta})"
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let started = Instant::now();
        let ticker = {
            let done = Arc::clone(&done);
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                loop {
                    tick.tick().await;
                    let n = done.load(Ordering::Relaxed);
                    if by_time {
                        bar.set_position(started.elapsed().as_secs().min(total));
                    } else {
                        bar.set_position(n.min(total));
                    }
                    bar.set_message(format!("{n} calls"));
                }
            })
        };
        Progress { done, ticker, bar }
    }

    pub(super) fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
