//! The decoder of the canonical layout against `serde_json`: over random records of every
//! payload it must take every body the log writes and build what `serde_json` builds; over
//! random damage to those bodies, whatever it still takes it must build as `serde_json` does
//! (and it may decline, which hands the body to `serde_json`).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::decode_body;
use crate::domain::*;
use crate::store::codec::compute_hash;
use crate::store::codec::{
    body_bytes, canonical_bytes, content_digest, decode_record, envelope, seal_serialized,
    DecodedRecord, Place, SerializedEvent, RECORD_V1, RECORD_V2,
};

fn serde_decode(body: &str) -> Option<DecodedRecord> {
    serde_json::from_str(body).ok()
}

/// Text of every kind: any characters (quotes, backslashes, control characters, non-ASCII
/// among them), or mostly the ones JSON escapes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        "[\\x00-\\x1f\"\\\\/a-z\u{7f}\u{e9}\u{4e2d}\u{1f600}]{0,10}",
    ]
}

fn personal() -> impl Strategy<Value = PersonalText> {
    prop_oneof![
        text().prop_map(PersonalText::Plain),
        (
            any::<[u8; 24]>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(nonce, ciphertext)| PersonalText::Sealed(SealedText { nonce, ciphertext })),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        -1_000i64..1_000
    ]
    .prop_map(Timestamp::from_unix_nanos)
}

fn money() -> impl Strategy<Value = Money> {
    (text(), any::<i64>()).prop_map(|(currency, minor_units)| Money {
        currency,
        minor_units,
    })
}

fn ids() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..4)
}

fn pick<T: Clone + std::fmt::Debug + 'static>(all: Vec<T>) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn role() -> impl Strategy<Value = ContactRole> {
    use ContactRole::*;
    pick(vec![
        DecisionMaker,
        TechnicalEvaluator,
        Procurement,
        User,
        Other,
    ])
}

fn payload() -> impl Strategy<Value = EventPayload> {
    use EventPayload as P;
    prop_oneof![
        (
            text(),
            pick(vec![AccountSegment::Standard, AccountSegment::Key]),
            text(),
            text(),
            text()
        )
            .prop_map(|(name, segment, owner, industry, region)| P::AccountOpened(
                AccountOpened {
                    name,
                    segment,
                    owner,
                    industry,
                    region
                }
            )),
        (
            text(),
            personal(),
            role(),
            text(),
            personal(),
            personal(),
            any::<bool>(),
            personal()
        )
            .prop_map(
                |(contact_id, name, role, title, phone, email, public_official, notes)| {
                    P::ContactAdded(ContactAdded {
                        contact_id,
                        name,
                        role,
                        title,
                        phone,
                        email,
                        public_official,
                        notes,
                    })
                }
            ),
        (text(), personal())
            .prop_map(|(contact_id, reason)| P::ContactLeft(ContactLeft { contact_id, reason })),
        (text(), text(), personal(), personal()).prop_map(
            |(contact_id, introduced_by, relationship, notes)| P::IntroductionMade(
                IntroductionMade {
                    contact_id,
                    introduced_by,
                    relationship,
                    notes
                }
            )
        ),
        (
            ids(),
            text(),
            text(),
            proptest::option::of(timestamp()),
            text()
        )
            .prop_map(
                |(contact_ids, purpose, summary, next_visit_on, next_visit_pretext)| P::Visit(
                    Visit {
                        contact_ids,
                        purpose,
                        summary,
                        next_visit_on,
                        next_visit_pretext
                    }
                )
            ),
        (text(), text()).prop_map(|(contact_id, summary)| P::Call(Call {
            contact_id,
            summary
        })),
        (text(), proptest::option::of(text()), text(), timestamp()).prop_map(
            |(promise_id, contact_id, description, due_at)| P::PromiseMade(PromiseMade {
                promise_id,
                contact_id,
                description,
                due_at
            })
        ),
        (text(), text())
            .prop_map(|(promise_id, note)| P::PromiseKept(PromiseKept { promise_id, note })),
        (text(), text()).prop_map(|(promise_id, reason)| P::PromiseBroken(PromiseBroken {
            promise_id,
            reason
        })),
        (
            pick(vec![
                SolutionKind::Unspecified,
                SolutionKind::DesignProposal,
                SolutionKind::TechnicalService,
                SolutionKind::Training,
                SolutionKind::Other
            ]),
            ids(),
            text()
        )
            .prop_map(|(kind, contact_ids, description)| P::SolutionDelivered(
                SolutionDelivered {
                    kind,
                    contact_ids,
                    description
                }
            )),
        (
            pick(vec![
                ProofKind::TestReport,
                ProofKind::ReferenceInstallation,
                ProofKind::CustomerReference,
                ProofKind::FactoryTour,
                ProofKind::Certification,
                ProofKind::Award
            ]),
            ids(),
            text(),
            text()
        )
            .prop_map(|(kind, contact_ids, issuer, description)| {
                P::ThirdPartyProofShared(ThirdPartyProofShared {
                    kind,
                    contact_ids,
                    issuer,
                    description,
                })
            }),
        (
            text(),
            pick(vec![
                FavorKind::Meal,
                FavorKind::Drinks,
                FavorKind::Gift,
                FavorKind::Entertainment,
                FavorKind::Travel,
                FavorKind::Other,
                FavorKind::Cash,
                FavorKind::Voucher,
                FavorKind::GiftCard
            ]),
            money(),
            text(),
            any::<bool>(),
            text(),
            text()
        )
            .prop_map(
                |(
                    contact_id,
                    kind,
                    value,
                    purpose,
                    recipient_is_public_official,
                    approval_reference,
                    description,
                )| P::FavorGiven(FavorGiven {
                    contact_id,
                    kind,
                    value,
                    purpose,
                    recipient_is_public_official,
                    approval_reference,
                    description,
                })
            ),
        (
            text(),
            money(),
            proptest::option::of(money()),
            text(),
            text()
        )
            .prop_map(
                |(order_id, revenue, margin, product, description)| P::OrderWon(OrderWon {
                    order_id,
                    revenue,
                    margin,
                    product,
                    description
                })
            ),
        (text(), text(), text(), proptest::option::of(money())).prop_map(
            |(order_id, reason, competitor, lost_revenue)| P::OrderLost(OrderLost {
                order_id,
                reason,
                competitor,
                lost_revenue
            })
        ),
        (text(), any::<u32>(), any::<bool>(), text(), text()).prop_map(
            |(order_id, discount_basis_points, ultimatum, competitor, description)| {
                P::PriceConcessionDemanded(PriceConcessionDemanded {
                    order_id,
                    discount_basis_points,
                    ultimatum,
                    competitor,
                    description,
                })
            }
        ),
        (text(), money(), timestamp(), text()).prop_map(
            |(invoice_id, amount, due_at, order_id)| P::InvoiceIssued(InvoiceIssued {
                invoice_id,
                amount,
                due_at,
                order_id
            })
        ),
        (text(), money(), text()).prop_map(|(invoice_id, amount, reference)| {
            P::PaymentReceived(PaymentReceived {
                invoice_id,
                amount,
                reference,
            })
        }),
        (ids(), text(), proptest::option::of(money())).prop_map(
            |(contact_ids, description, value_protected)| P::CriticalAssistance(
                CriticalAssistance {
                    contact_ids,
                    description,
                    value_protected
                }
            )
        ),
        (money(), text(), text()).prop_map(|(amount, category, description)| {
            P::RelationshipCost(RelationshipCost {
                amount,
                category,
                description,
            })
        }),
        (text(), text()).prop_map(
            |(contact_id, reason)| P::ContactForgotten(ContactForgotten { contact_id, reason })
        ),
    ]
}

fn event() -> impl Strategy<Value = ProposedEvent> {
    (
        any::<u128>().prop_filter("not nil", |n| *n != 0),
        timestamp(),
        text(),
        proptest::collection::btree_map(text(), text(), 0..4),
        payload(),
    )
        .prop_map(
            |(id, occurred_at, actor, metadata, payload)| ProposedEvent {
                event_id: EventId::from_uuid(uuid::Uuid::from_u128(id)).unwrap(),
                occurred_at,
                actor,
                metadata,
                payload,
            },
        )
}

fn record() -> impl Strategy<Value = DecodedRecord> {
    (
        any::<u64>(),
        "[A-Za-z0-9._:@-]{1,24}",
        any::<u64>(),
        timestamp(),
        proptest::option::of(text()),
        event(),
    )
        .prop_map(
            |(position, account, revision, recorded_at, recorded_by, event)| DecodedRecord {
                v: if recorded_by.is_some() {
                    RECORD_V2
                } else {
                    RECORD_V1
                },
                position,
                account_id: AccountId::parse(account).unwrap(),
                revision,
                recorded_at,
                recorded_by,
                event,
            },
        )
}

fn place(record: &DecodedRecord) -> Place<'_> {
    Place {
        position: record.position,
        account: &record.account_id,
        revision: record.revision,
        recorded_by: record.recorded_by.as_deref(),
    }
}

fn canonical(record: &DecodedRecord) -> String {
    String::from_utf8(body_bytes(
        &place(record),
        record.recorded_at,
        &record.event,
    ))
    .unwrap()
}

/// What may be put into a body to damage it: JSON's own punctuation, numbers, escapes
/// (good and bad), whitespace, multi-byte and control characters.
const TOKENS: &[&str] = &[
    " ",
    "\\",
    "\"",
    "0",
    "1",
    "9",
    "-",
    "null",
    "true",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "e",
    ".5",
    "\\n",
    "\\u0041",
    "\\ud800",
    "\\u00e9",
    "\u{e9}",
    "\u{1}",
    "\"x\":1",
    "\n",
    "18446744073709551616",
];

/// `body` with one edit at the char boundary at or before `at` (a fraction of its length).
fn damage(body: &str, at: f64, edit: usize, token: &str) -> String {
    let mut i = ((body.len() as f64) * at) as usize;
    i = i.min(body.len());
    while !body.is_char_boundary(i) {
        i -= 1;
    }
    let mut out = body.to_string();
    match edit % 3 {
        0 => out.insert_str(i, token),
        1 => {
            let mut end = (i + 1 + edit % 5).min(body.len());
            while !body.is_char_boundary(end) {
                end += 1;
            }
            out.replace_range(i..end, "");
        }
        _ => {
            let mut end = (i + 1).min(body.len());
            while !body.is_char_boundary(end) {
                end += 1;
            }
            out.replace_range(i..end, token);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Every body the log writes takes the fast path, and decodes to the record written, as
    /// `serde_json` decodes it.
    #[test]
    fn every_canonical_body_decodes_as_serde_json_decodes_it(record in record()) {
        let body = canonical(&record);
        let fast = decode_body(&body);
        prop_assert!(fast.is_some(), "declined a canonical body: {}", body);
        prop_assert_eq!(fast.as_ref(), Some(&record));
        prop_assert_eq!(fast, serde_decode(&body));
    }

    /// A record sealed from its event's JSON written beforehand (how every record is sealed)
    /// holds the bytes `canonical_bytes` gives from the decoded event, a hash over them, and a
    /// digest equal to `content_digest`: splicing the JSON in changes nothing on disk or in the
    /// hash chain.
    #[test]
    fn an_event_serialized_beforehand_seals_to_its_canonical_bytes(
        record in record(),
        prev in any::<[u8; 32]>(),
    ) {
        let serialized = SerializedEvent::new(record.event.clone());
        prop_assert_eq!(serialized.digest(), content_digest(&record.event));
        let (sealed, value) =
            seal_serialized(place(&record), record.recorded_at, serialized, ChainHash(prev));
        prop_assert_eq!(&sealed.recorded_by, &record.recorded_by);
        prop_assert_eq!(&sealed.event, &record.event);
        let canonical = canonical_bytes(&sealed);
        let hash = compute_hash(&ChainHash(prev), &canonical);
        prop_assert_eq!(sealed.hash, hash);
        prop_assert_eq!(value, envelope(&ChainHash(prev), &hash, &canonical));
    }

    /// Damaged bodies: whatever the fast path still takes, serde_json takes too, with the same
    /// result (and what it declines goes to serde_json, so the two never disagree).
    #[test]
    fn a_damaged_body_the_fast_path_takes_decodes_as_serde_json_decodes_it(
        record in record(),
        edits in proptest::collection::vec((0.0f64..=1.0, 0usize..15, proptest::sample::select(TOKENS)), 1..4),
    ) {
        let mut body = canonical(&record);
        for (at, edit, token) in edits {
            body = damage(&body, at, edit, token);
        }
        if let Some(fast) = decode_body(&body) {
            prop_assert_eq!(Some(fast), serde_decode(&body), "{}", body);
        }
    }
}

fn sample_record() -> DecodedRecord {
    DecodedRecord {
        v: RECORD_V1,
        position: 7,
        account_id: AccountId::parse("acme-01").unwrap(),
        revision: 3,
        recorded_at: Timestamp::from_unix_nanos(1_700_000_100_000_000_000),
        recorded_by: None,
        event: ProposedEvent {
            event_id: EventId::parse("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11").unwrap(),
            occurred_at: Timestamp::from_unix_nanos(-5),
            actor: "li \"the\" wei\n\u{1}\\/é".to_string(),
            metadata: BTreeMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]),
            payload: EventPayload::ContactLeft(ContactLeft {
                contact_id: "c1".to_string(),
                reason: PersonalText::Sealed(SealedText {
                    nonce: [0xab; 24],
                    ciphertext: vec![1, 2, 255],
                }),
            }),
        },
    }
}

#[test]
fn escapes_and_sealed_values_take_the_fast_path() {
    let record = sample_record();
    let body = canonical(&record);
    assert!(body.contains(r#"li \"the\" wei\n\u0001\\/é"#), "{body}");
    assert_eq!(decode_body(&body), Some(record));
}

/// Bodies laid out otherwise than the log writes them are declined by the fast path (and
/// decoded by serde_json, as before).
#[test]
fn other_layouts_are_left_to_serde_json() {
    let body = canonical(&sample_record());
    let others = [
        // Whitespace between tokens.
        body.replacen("\"position\":7", "\"position\": 7", 1),
        // Metadata keys out of order, and repeated.
        body.replacen(r#"{"a":"1","b":"2"}"#, r#"{"b":"2","a":"1"}"#, 1),
        body.replacen(r#"{"a":"1","b":"2"}"#, r#"{"a":"1","a":"2"}"#, 1),
        // A surrogate pair, which serde_json writes raw but reads escaped.
        body.replacen("wei", "\\ud83d\\ude00", 1),
        // The erased form, never stored.
        body.replacen(
            &format!(
                r#"{{"sealed":{{"nonce":"{}","ciphertext":"0102ff"}}}}"#,
                "ab".repeat(24)
            ),
            r#"{"erased":true}"#,
            1,
        ),
        // A leading zero, a negative zero, a fraction.
        body.replacen("\"revision\":3", "\"revision\":03", 1),
        body.replacen("\"occurred_at\":-5", "\"occurred_at\":-0", 1),
        body.replacen("\"revision\":3", "\"revision\":3.0", 1),
        // Another record version.
        body.replacen("{\"v\":1", "{\"v\":2", 1),
        // Trailing bytes.
        format!("{body} "),
    ];
    for other in others {
        assert_ne!(other, body);
        assert_eq!(decode_body(&other), None, "{other}");
    }
    // serde_json still reads what it always read: the record behind a whitespace, the last
    // value of a repeated metadata key, the surrogate pair.
    assert_eq!(
        serde_decode(&body.replacen("\"position\":7", "\"position\": 7", 1)),
        Some(sample_record())
    );
}

/// A stored value whose body is not laid out canonically (but whose hash is right) still
/// decodes, through serde_json: what the log accepted before, it accepts now.
#[test]
fn a_non_canonical_stored_body_still_decodes() {
    let record = sample_record();
    let body = canonical(&record).replacen("\"revision\":3", "\"revision\": 3", 1);
    let prev = ChainHash([0x11; 32]);
    let hash = compute_hash(&prev, body.as_bytes());
    let decoded = decode_record(&envelope(&prev, &hash, body.as_bytes())).unwrap();
    assert_eq!(decoded.revision, 3);
    assert_eq!(decoded.event, record.event);
    assert_eq!(decoded.hash, hash);
}
