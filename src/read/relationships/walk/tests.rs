use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{blocking_fold, fold_slot_count};

/// Many questions at once run at most the slots' folds at once, and use every slot. Each fold
/// stands for a long one (a few milliseconds of work), so that without the bound they would
/// overlap far past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folds_run_at_most_their_slots_at_once() {
    let slots = fold_slot_count();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let folds: Vec<_> = (0..slots * 4)
        .map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            tokio::spawn(blocking_fold(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
        })
        .collect();
    for fold in folds {
        fold.await.unwrap().unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= slots,
        "{most} folds ran at once, past {slots} slots"
    );
    assert!(most > 1, "the folds never overlapped");
}
