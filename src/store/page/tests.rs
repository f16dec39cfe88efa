use super::*;

/// The pages of a scan, as `(start, end)` pairs.
fn pages(mut scan: Scan) -> Vec<(u64, u64)> {
    std::iter::from_fn(|| scan.next_page())
        .map(|page| (page.start, page.end))
        .collect()
}

#[test]
fn forwards_scans_cover_the_range_in_pages() {
    assert_eq!(
        pages(Scan::new(None, Direction::Forwards, None, 600)),
        [(0, 256), (256, 512), (512, 600)]
    );
    assert_eq!(
        pages(Scan::new(Some(590), Direction::Forwards, None, 600)),
        [(590, 600)]
    );
    assert!(pages(Scan::new(Some(600), Direction::Forwards, None, 600)).is_empty());
    assert!(pages(Scan::new(None, Direction::Forwards, Some(0), 600)).is_empty());
}

#[test]
fn backwards_scans_start_at_from_or_the_end() {
    assert_eq!(
        pages(Scan::new(None, Direction::Backwards, None, 300)),
        [(44, 300), (0, 44)]
    );
    assert_eq!(
        pages(Scan::new(Some(9), Direction::Backwards, None, 300)),
        [(0, 10)]
    );
    assert_eq!(
        pages(Scan::new(Some(999), Direction::Backwards, None, 3)),
        [(0, 3)]
    );
    assert!(pages(Scan::new(None, Direction::Backwards, None, 0)).is_empty());
}

/// A fetch of fake records (only their positions matter), counting its calls.
fn counting_fetch(
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> impl FnMut(Range<u64>, Direction) -> futures::future::Ready<Fetched> {
    move |page, _| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let records = page
            .map(|position| {
                let mut log = crate::domain::projection::testkit::Log::opened(
                    crate::domain::AccountSegment::Standard,
                );
                let mut record = log.events.pop().unwrap();
                record.position = position;
                record
            })
            .collect();
        futures::future::ready(Fetched::new(records, Ok(())))
    }
}

#[tokio::test]
async fn reads_at_most_one_page_ahead_of_the_consumer_and_in_order() {
    use futures::TryStreamExt;

    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scan = Scan::new(None, Direction::Forwards, None, 4 * PAGE_LEN);
    let mut read = paged(scan, counting_fetch(calls.clone()));
    let first = read.try_next().await.unwrap().unwrap();
    assert_eq!(first.position, 0);
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the page in hand and the next one"
    );
    let rest: Vec<u64> = read.map_ok(|r| r.position).try_collect().await.unwrap();
    assert_eq!(rest, (1..4 * PAGE_LEN).collect::<Vec<_>>());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test]
async fn pages_come_whole_cut_at_the_limit_and_an_error_after_its_records() {
    use futures::TryStreamExt;

    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scan = Scan::new(Some(10), Direction::Forwards, Some(300), 4 * PAGE_LEN);
    let pages: Vec<Vec<u64>> = paged_pages(scan, counting_fetch(calls.clone()))
        .map_ok(|page| page.iter().map(|r| r.position).collect())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages, [(10..266).collect::<Vec<_>>(), (266..310).collect()]);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A page that keeps nothing is passed over; a failed one yields what it read, then
    // the error, then nothing.
    let mut fetches = 0;
    let scan = Scan::new(None, Direction::Forwards, None, 4 * PAGE_LEN);
    let mut fake = counting_fetch(calls.clone());
    let read: Vec<_> = paged_pages(scan, move |page, direction| {
        fetches += 1;
        let mut fetched = fake(page, direction).into_inner();
        match fetches {
            1 => fetched.records.clear(),
            2 => {
                fetched.records.truncate(3);
                fetched.error = Some(StoreError::Corrupt("damaged".into()));
            }
            _ => {}
        }
        futures::future::ready(fetched)
    })
    .collect()
    .await;
    assert_eq!(read.len(), 2, "{read:?}");
    let kept: Vec<u64> = read[0]
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| r.position)
        .collect();
    assert_eq!(kept, [256, 257, 258]);
    assert_eq!(read[1], Err(StoreError::Corrupt("damaged".into())));
}

#[tokio::test]
async fn a_limit_within_the_page_in_hand_fetches_nothing_more() {
    use futures::TryStreamExt;

    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scan = Scan::new(None, Direction::Forwards, Some(10), 4 * PAGE_LEN);
    let read: Vec<_> = paged(scan, counting_fetch(calls.clone()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 10);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}
