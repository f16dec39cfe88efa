use super::*;
use crate::domain::event::EventType;
use crate::domain::ids::EventId;
use crate::domain::projection::decay::decay;
use crate::domain::projection::evidence::Factor;
use crate::domain::time::NANOS_PER_DAY;

fn item(contact: Option<&str>, at: i64, raw: (f64, f64), half_life_days: u32) -> Evidence {
    let at = Timestamp::from_unix_nanos(at);
    Evidence {
        event_index: 0,
        event_id: EventId::new_random(),
        event_type: EventType::Visit,
        at,
        channel: contact.map_or(Channel::Organizational, |c| Channel::Personal {
            contact_id: c.into(),
        }),
        factor: Factor::VisitPositive,
        raw_r: raw.0,
        raw_s: raw.1,
        half_life_days,
        clock: at,
        weight: 1.0,
    }
}

#[test]
fn one_day_decays_by_one_weight_whatever_the_time_of_day() {
    let morning = 100 * NANOS_PER_DAY + 1;
    let night = 101 * NANOS_PER_DAY - 1;
    let sums = DaySums::of(&[
        item(Some("li"), morning, (0.5, 0.0), 90),
        item(Some("li"), night, (0.2, 0.0), 90),
        item(None, night, (0.0, 1.0), 365),
    ]);
    assert_eq!(sums.len(), 2);
    // At 00:00:01 the next day both of li's items are one day old, though the morning's is
    // 24 hours old and the night's two seconds.
    let clock = Timestamp::from_unix_nanos(101 * NANOS_PER_DAY + 1_000_000_000);
    let mut decays = Decays::default();
    let li = sums.personal["li"].aged(clock, &mut decays);
    assert_eq!(li.r.to_bits(), ((0.5 + 0.2) * decay(1, 90)).to_bits());
    assert_eq!(li.s, 0.0);
    let org = sums.org.aged(clock, &mut decays);
    assert_eq!(org.s.to_bits(), decay(1, 365).to_bits());
}

#[test]
fn an_item_over_its_cap_adds_its_contact_but_no_day() {
    let sums = DaySums::of(&[item(Some("ann"), 5 * NANOS_PER_DAY, (0.0, 0.0), 90)]);
    assert!(sums.personal.contains_key("ann"));
    assert_eq!(sums.len(), 0);
    let beta = sums.personal["ann"].aged(Timestamp::from_unix_nanos(0), &mut Decays::default());
    assert_eq!(beta, Beta::default());
}

#[test]
fn sums_kept_item_by_item_equal_sums_of_all_the_items() {
    let items: Vec<Evidence> = (0..50)
        .map(|i| {
            let contact = ["a", "b"][i % 2];
            let at = i as i64 * NANOS_PER_DAY / 7;
            item(
                Some(contact),
                at,
                (0.1 * i as f64, 0.3),
                30 + (i % 3) as u32 * 60,
            )
        })
        .collect();
    let mut kept = DaySums::default();
    for i in &items {
        kept.add(i);
    }
    assert_eq!(kept, DaySums::of(&items));
    let json = serde_json::to_string(&kept).unwrap();
    assert_eq!(serde_json::from_str::<DaySums>(&json).unwrap(), kept);
}

#[test]
fn a_late_item_carries_the_days_after_it_again() {
    let day = |d: i64| d * NANOS_PER_DAY + 7;
    // Logged on days 5, 3 (late) and 9: the carried sums are those of the days in date order.
    let sums = DaySums::of(&[
        item(None, day(5), (0.5, 0.0), 30),
        item(None, day(3), (0.25, 1.0), 30),
        item(None, day(9), (1.0, 0.5), 30),
    ]);
    let on3 = (0.25, 1.0);
    let on5 = (on3.0 * decay(2, 30) + 0.5, on3.1 * decay(2, 30));
    let on9 = (on5.0 * decay(4, 30) + 1.0, on5.1 * decay(4, 30) + 0.5);
    let beta = sums
        .org
        .aged(Timestamp::from_unix_nanos(day(12)), &mut Decays::default());
    assert_eq!(beta.r.to_bits(), (on9.0 * decay(3, 30)).to_bits());
    assert_eq!(beta.s.to_bits(), (on9.1 * decay(3, 30)).to_bits());
}

#[test]
fn carried_sums_age_as_each_day_aged_does_to_the_last_bits_or_so() {
    let items: Vec<Evidence> = (0..400)
        .map(|i: i64| {
            let at = (i * 37 % 900) * NANOS_PER_DAY + i;
            item(
                None,
                at,
                (0.01 * (i % 7) as f64, 0.02),
                [30, 90, 365][(i % 3) as usize],
            )
        })
        .collect();
    let sums = DaySums::of(&items);
    let clock = Timestamp::from_unix_nanos(1_000 * NANOS_PER_DAY);
    let beta = sums.org.aged(clock, &mut Decays::default());
    let each = items.iter().fold(Beta::default(), |beta, i| Beta {
        r: beta.r + i.raw_r * decay(clock.calendar_days_since(i.at), i.half_life_days),
        s: beta.s + i.raw_s * decay(clock.calendar_days_since(i.at), i.half_life_days),
    });
    assert!(
        (beta.r - each.r).abs() <= 1e-12 * each.r,
        "{beta:?} {each:?}"
    );
    assert!(
        (beta.s - each.s).abs() <= 1e-12 * each.s,
        "{beta:?} {each:?}"
    );
}

#[test]
fn days_after_the_clock_count_fully_after_the_carried_sum() {
    let sums = DaySums::of(&[
        item(None, 10 * NANOS_PER_DAY, (1.0, 0.0), 30),
        item(None, 20 * NANOS_PER_DAY, (0.5, 0.25), 30),
    ]);
    let clock = Timestamp::from_unix_nanos(15 * NANOS_PER_DAY);
    let beta = sums.org.aged(clock, &mut Decays::default());
    assert_eq!(beta.r.to_bits(), (decay(5, 30) + 0.5).to_bits());
    assert_eq!(beta.s.to_bits(), 0.25_f64.to_bits());
}

#[test]
fn sums_kept_from_a_day_age_and_carry_as_the_whole_sums_from_that_day_on() {
    let items: Vec<Evidence> = (0..300)
        .map(|i: i64| {
            let contact = ["a", "b"][(i % 2) as usize];
            item(Some(contact), i * NANOS_PER_DAY / 2, (0.1, 0.05), 30)
        })
        .collect();
    let whole = DaySums::of(&items);
    let mut kept = whole.clone();
    kept.keep_from(120);
    assert!(
        kept.len() < whole.len() / 2,
        "{} of {}",
        kept.len(),
        whole.len()
    );
    let mut decays = Decays::default();
    for day in [120, 149, 150, 400] {
        let clock = Timestamp::from_unix_nanos(day * NANOS_PER_DAY);
        for id in ["a", "b"] {
            assert_eq!(
                kept.personal[id].aged(clock, &mut decays),
                whole.personal[id].aged(clock, &mut decays)
            );
        }
    }
    // An item dated on the first day kept, then one after the last: carried alike.
    let (mut kept, mut whole) = (kept, whole);
    for late in [
        item(Some("a"), 120 * NANOS_PER_DAY, (0.3, 0.0), 30),
        item(Some("a"), 200 * NANOS_PER_DAY, (0.0, 0.3), 30),
    ] {
        kept.add(&late);
        whole.add(&late);
    }
    let clock = Timestamp::from_unix_nanos(210 * NANOS_PER_DAY);
    assert_eq!(
        kept.personal["a"].aged(clock, &mut decays),
        whole.personal["a"].aged(clock, &mut decays)
    );
}
