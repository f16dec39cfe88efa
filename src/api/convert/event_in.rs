//! Wire events into domain events: the structural checks of an append request.
//!
//! Structural means what the wire format alone can get wrong: an id that is not a UUID, a
//! missing timestamp or amount, an enum number the contract does not know, a oneof left empty.
//! What the business forbids (a cash favor, a visit to an unknown contact, a negative amount)
//! is the domain's to say, in `domain::validation`; this module only makes sure it has well-formed
//! values to judge. Every violation of an event is collected, each with its full wire path, so a
//! client hears about all of them in one round trip.

use std::collections::BTreeMap;

use super::enums::WireEnum;
use super::TIMESTAMP_RANGE;
use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::{self, EventId, EventPayload, FieldViolation, Timestamp, ValidationError};

/// The longest `actor`, in characters.
pub const MAX_ACTOR_CHARS: usize = 128;
/// The most `metadata` entries one event may carry.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// The longest `metadata` key, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 128;

/// Converts the wire event at `path` (such as `events[3]`) into a domain event, or reports every
/// structural violation in it, each named by its full path (`events[3].visit.next_visit_on`).
pub fn proposed_event_from_proto(
    p: proto::ProposedEvent,
    path: &str,
) -> Result<domain::ProposedEvent, ValidationError> {
    let mut violations = Vec::new();
    let mut fields = Fields {
        event: path,
        message: None,
        violations: &mut violations,
    };

    let event_id = match EventId::parse(&p.event_id) {
        Ok(id) => Some(id),
        Err(e) => fields.violation("event_id", e.to_string()),
    };
    let occurred_at = fields.required_timestamp("occurred_at", p.occurred_at);
    fields.check_actor(&p.actor);
    let metadata: BTreeMap<String, String> = p.metadata;
    fields.check_metadata(&metadata);
    let payload = match p.payload {
        Some(payload) => payload_from_proto(&mut fields, payload),
        None => fields.violation("payload", "exactly one event type must be set"),
    };

    match (event_id, occurred_at, payload) {
        (Some(event_id), Some(occurred_at), Some(payload)) if violations.is_empty() => {
            Ok(domain::ProposedEvent {
                event_id,
                occurred_at,
                actor: p.actor,
                metadata,
                payload,
            })
        }
        _ => Err(ValidationError { violations }),
    }
}

/// The violations found so far in one event, and the path of the message being converted.
///
/// The conversion helpers return `None` after recording a violation, so a payload function can
/// convert every field first (recording every problem) and only then give up with `?`.
///
/// The path is kept in its parts and written out only for a violation: almost every event
/// has none.
struct Fields<'p, 'v> {
    /// The wire path of the event: `events[3]`.
    event: &'p str,
    /// The payload message being converted (`favor_given`), if one is.
    message: Option<&'p str>,
    /// Every violation of the event, shared by the nested messages.
    violations: &'v mut Vec<FieldViolation>,
}

impl Fields<'_, '_> {
    /// The fields of the nested message `name`.
    fn nested<'a>(&'a mut self, name: &'a str) -> Fields<'a, 'a> {
        Fields {
            event: self.event,
            message: Some(name),
            violations: self.violations,
        }
    }

    /// The full wire path of `field` in the current message.
    fn path_of(&self, field: &str) -> String {
        match self.message {
            Some(message) => format!("{}.{message}.{field}", self.event),
            None => format!("{}.{field}", self.event),
        }
    }

    /// Records a violation of `field`.
    fn report(&mut self, field: &str, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(self.path_of(field), description));
    }

    /// Records a violation of `field` and returns `None`, for use where a value was expected.
    fn violation<T>(&mut self, field: &str, description: impl Into<String>) -> Option<T> {
        self.report(field, description);
        None
    }

    /// A timestamp that must be set and in range.
    fn required_timestamp(
        &mut self,
        field: &str,
        value: Option<pbjson_types::Timestamp>,
    ) -> Option<Timestamp> {
        match value {
            Some(t) => self.timestamp(field, &t),
            None => self.violation(field, "is required"),
        }
    }

    /// A timestamp that may be unset: `Some(None)` when unset, `None` when out of range.
    fn optional_timestamp(
        &mut self,
        field: &str,
        value: Option<pbjson_types::Timestamp>,
    ) -> Option<Option<Timestamp>> {
        match value {
            Some(t) => self.timestamp(field, &t).map(Some),
            None => Some(None),
        }
    }

    /// A set timestamp, which must be in the range the domain's instants hold. The field's
    /// path is written out only for a violation.
    fn timestamp(&mut self, field: &str, value: &pbjson_types::Timestamp) -> Option<Timestamp> {
        Timestamp::from_parts(value.seconds, value.nanos)
            .or_else(|| self.violation(field, TIMESTAMP_RANGE))
    }

    /// An amount that must be set. Its currency and sign are the domain's to judge.
    fn required_money(
        &mut self,
        field: &str,
        value: Option<proto::Money>,
    ) -> Option<domain::Money> {
        match value {
            Some(m) => Some(money_from_proto(m)),
            None => self.violation(field, "is required"),
        }
    }

    /// An enum field: a number the contract does not define, or a zero value that must not be
    /// sent, is a violation naming the field.
    fn enumeration<E: WireEnum>(&mut self, field: &str, raw: i32) -> Option<E::Domain> {
        match E::try_from(raw).ok().map(E::to_domain) {
            Some(Some(value)) => Some(value),
            Some(None) => self.violation(
                field,
                format!("must be set to a {} other than {}", E::NAME, E::UNSPECIFIED),
            ),
            None => self.violation(field, format!("{raw} is not a known {} value", E::NAME)),
        }
    }

    /// `actor` is required and bounded.
    fn check_actor(&mut self, actor: &str) {
        let chars = actor.chars().count();
        if chars == 0 {
            self.report("actor", "is required");
        } else if chars > MAX_ACTOR_CHARS {
            self.report(
                "actor",
                format!("must be at most {MAX_ACTOR_CHARS} characters, got {chars}"),
            );
        }
    }

    /// `metadata` is bounded in entries and key length; its values are never interpreted.
    fn check_metadata(&mut self, metadata: &BTreeMap<String, String>) {
        if metadata.len() > MAX_METADATA_ENTRIES {
            self.report(
                "metadata",
                format!(
                    "must have at most {MAX_METADATA_ENTRIES} entries, got {}",
                    metadata.len()
                ),
            );
        }
        for key in metadata.keys() {
            let chars = key.chars().count();
            if chars == 0 {
                self.report("metadata", "keys must not be empty");
            } else if chars > MAX_METADATA_KEY_CHARS {
                self.report(
                    "metadata",
                    format!(
                        "keys must be at most {MAX_METADATA_KEY_CHARS} characters, got one of {chars}"
                    ),
                );
            }
        }
    }
}

/// A wire amount as the domain's; never fails, since every pair of values is well-formed.
fn money_from_proto(m: proto::Money) -> domain::Money {
    domain::Money {
        currency: m.currency,
        minor_units: m.minor_units,
    }
}

/// An amount that may be unset.
fn optional_money(value: Option<proto::Money>) -> Option<domain::Money> {
    value.map(money_from_proto)
}

/// Converts the payload, recording its violations under the path of its oneof field.
fn payload_from_proto(event: &mut Fields<'_, '_>, payload: Payload) -> Option<EventPayload> {
    use domain as d;
    let f = &mut event.nested(event_type_of(&payload).as_str());
    Some(match payload {
        Payload::AccountOpened(p) => EventPayload::AccountOpened(d::AccountOpened {
            segment: f.enumeration::<proto::AccountSegment>("segment", p.segment)?,
            name: p.name,
            owner: p.owner,
            industry: p.industry,
            region: p.region,
        }),
        Payload::ContactAdded(p) => EventPayload::ContactAdded(d::ContactAdded {
            role: f.enumeration::<proto::ContactRole>("role", p.role)?,
            contact_id: p.contact_id,
            name: p.name.into(),
            title: p.title,
            phone: p.phone.into(),
            email: p.email.into(),
            public_official: p.public_official,
            notes: p.notes.into(),
        }),
        Payload::ContactLeft(p) => EventPayload::ContactLeft(d::ContactLeft {
            contact_id: p.contact_id,
            reason: p.reason.into(),
        }),
        Payload::IntroductionMade(p) => EventPayload::IntroductionMade(d::IntroductionMade {
            contact_id: p.contact_id,
            introduced_by: p.introduced_by,
            relationship: p.relationship.into(),
            notes: p.notes.into(),
        }),
        Payload::Visit(p) => EventPayload::Visit(d::Visit {
            next_visit_on: f.optional_timestamp("next_visit_on", p.next_visit_on)?,
            contact_ids: p.contact_ids,
            purpose: p.purpose,
            summary: p.summary,
            next_visit_pretext: p.next_visit_pretext,
        }),
        Payload::Call(p) => EventPayload::Call(d::Call {
            contact_id: p.contact_id,
            summary: p.summary,
        }),
        Payload::PromiseMade(p) => EventPayload::PromiseMade(d::PromiseMade {
            due_at: f.required_timestamp("due_at", p.due_at)?,
            promise_id: p.promise_id,
            contact_id: Some(p.contact_id).filter(|id| !id.is_empty()),
            description: p.description,
        }),
        Payload::PromiseKept(p) => EventPayload::PromiseKept(d::PromiseKept {
            promise_id: p.promise_id,
            note: p.note,
        }),
        Payload::PromiseBroken(p) => EventPayload::PromiseBroken(d::PromiseBroken {
            promise_id: p.promise_id,
            reason: p.reason,
        }),
        Payload::SolutionDelivered(p) => EventPayload::SolutionDelivered(d::SolutionDelivered {
            kind: f.enumeration::<proto::SolutionKind>("kind", p.kind)?,
            contact_ids: p.contact_ids,
            description: p.description,
        }),
        Payload::ThirdPartyProofShared(p) => {
            EventPayload::ThirdPartyProofShared(d::ThirdPartyProofShared {
                kind: f.enumeration::<proto::ProofKind>("kind", p.kind)?,
                contact_ids: p.contact_ids,
                issuer: p.issuer,
                description: p.description,
            })
        }
        Payload::FavorGiven(p) => {
            // Both fields are converted before either can give up, so both are reported.
            let kind = f.enumeration::<proto::FavorKind>("kind", p.kind);
            let value = f.required_money("value", p.value);
            EventPayload::FavorGiven(d::FavorGiven {
                kind: kind?,
                value: value?,
                contact_id: p.contact_id,
                purpose: p.purpose,
                recipient_is_public_official: p.recipient_is_public_official,
                approval_reference: p.approval_reference,
                description: p.description,
            })
        }
        Payload::OrderWon(p) => EventPayload::OrderWon(d::OrderWon {
            revenue: f.required_money("revenue", p.revenue)?,
            margin: optional_money(p.margin),
            order_id: p.order_id,
            product: p.product,
            description: p.description,
        }),
        Payload::OrderLost(p) => EventPayload::OrderLost(d::OrderLost {
            lost_revenue: optional_money(p.lost_revenue),
            order_id: p.order_id,
            reason: p.reason,
            competitor: p.competitor,
        }),
        Payload::PriceConcessionDemanded(p) => {
            EventPayload::PriceConcessionDemanded(d::PriceConcessionDemanded {
                order_id: p.order_id,
                discount_basis_points: p.discount_basis_points,
                ultimatum: p.ultimatum,
                competitor: p.competitor,
                description: p.description,
            })
        }
        Payload::InvoiceIssued(p) => {
            let amount = f.required_money("amount", p.amount);
            let due_at = f.required_timestamp("due_at", p.due_at);
            EventPayload::InvoiceIssued(d::InvoiceIssued {
                amount: amount?,
                due_at: due_at?,
                invoice_id: p.invoice_id,
                order_id: p.order_id,
            })
        }
        Payload::PaymentReceived(p) => EventPayload::PaymentReceived(d::PaymentReceived {
            amount: f.required_money("amount", p.amount)?,
            invoice_id: p.invoice_id,
            reference: p.reference,
        }),
        Payload::CriticalAssistance(p) => EventPayload::CriticalAssistance(d::CriticalAssistance {
            value_protected: optional_money(p.value_protected),
            contact_ids: p.contact_ids,
            description: p.description,
        }),
        Payload::RelationshipCost(p) => EventPayload::RelationshipCost(d::RelationshipCost {
            amount: f.required_money("amount", p.amount)?,
            category: p.category,
            description: p.description,
        }),
        // Well-formed, so converted; the ledger refuses it in an append (only ForgetContact,
        // which destroys the key first, may record it).
        Payload::ContactForgotten(p) => EventPayload::ContactForgotten(d::ContactForgotten {
            contact_id: p.contact_id,
            reason: p.reason,
        }),
    })
}

/// The event type of a wire payload, whose name is the payload's oneof field name.
fn event_type_of(payload: &Payload) -> domain::EventType {
    use domain::EventType as T;
    match payload {
        Payload::AccountOpened(_) => T::AccountOpened,
        Payload::ContactAdded(_) => T::ContactAdded,
        Payload::ContactLeft(_) => T::ContactLeft,
        Payload::IntroductionMade(_) => T::IntroductionMade,
        Payload::Visit(_) => T::Visit,
        Payload::Call(_) => T::Call,
        Payload::PromiseMade(_) => T::PromiseMade,
        Payload::PromiseKept(_) => T::PromiseKept,
        Payload::PromiseBroken(_) => T::PromiseBroken,
        Payload::SolutionDelivered(_) => T::SolutionDelivered,
        Payload::ThirdPartyProofShared(_) => T::ThirdPartyProofShared,
        Payload::FavorGiven(_) => T::FavorGiven,
        Payload::OrderWon(_) => T::OrderWon,
        Payload::OrderLost(_) => T::OrderLost,
        Payload::PriceConcessionDemanded(_) => T::PriceConcessionDemanded,
        Payload::InvoiceIssued(_) => T::InvoiceIssued,
        Payload::PaymentReceived(_) => T::PaymentReceived,
        Payload::CriticalAssistance(_) => T::CriticalAssistance,
        Payload::RelationshipCost(_) => T::RelationshipCost,
        Payload::ContactForgotten(_) => T::ContactForgotten,
    }
}
