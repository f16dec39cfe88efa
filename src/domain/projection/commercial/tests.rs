use crate::domain::event::AccountSegment;
use crate::domain::projection::testkit::{day, Log};
use crate::domain::projection::{project, Params};

#[test]
fn trailing_figures_and_receivables() {
    let p = Params::default();
    let mut log = Log::opened(AccountSegment::Standard);
    log.order(10, 500_000, Some(50_000)); // 400 days old at day 410: outside the window.
    log.order(300, 1_000_000, Some(100_000));
    log.order(400, 1_000_000, None);
    log.cost(350, 20_000);
    log.favor(360, "b", 5_000);
    log.invoice(300, "i1", 1_000_000, 330);
    log.payment(340, "i1", 400_000);
    log.invoice(400, "i2", 1_000_000, 430);
    log.payment(405, "nope", 1);
    log.concession(380, 300);
    log.concession(390, 500);
    let f = project(&log.events, day(410), &p).commercial;
    assert_eq!(
        (f.revenue_minor, f.orders_won, f.margin_minor),
        (2_000_000, 2, 100_000)
    );
    assert_eq!(f.margin_rate, Some(0.1));
    assert_eq!(
        (f.relationship_cost_minor, f.favor_value_minor),
        (25_000, 5_000)
    );
    assert_eq!(f.roi, Some((100_000.0 - 25_000.0) / 25_000.0));
    assert_eq!(f.receivables_outstanding_minor, 1_600_000);
    assert_eq!(f.receivables_overdue_minor, 600_000);
    assert_eq!(
        (f.concession_demands, f.average_discount_bp),
        (2, Some(400.0))
    );
}
