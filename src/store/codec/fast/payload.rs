//! The payloads' layouts, read literally: each payload's fields in declaration order, and each
//! type of field as the canonical encoding writes it; anything else answers `None`.

use serde::de::value::{BorrowedStrDeserializer, Error as ValueError};
use serde::Deserialize;

use super::Cursor;
use crate::domain::{personal::NONCE_LEN, AccountSegment};
use crate::domain::{
    AccountOpened, Call, ContactAdded, ContactForgotten, ContactLeft, ContactRole,
    CriticalAssistance, EventPayload, FavorGiven, FavorKind, IntroductionMade, InvoiceIssued,
    Money, OrderLost, OrderWon, PaymentReceived, PersonalText, PriceConcessionDemanded,
    PromiseBroken, PromiseKept, PromiseMade, ProofKind, RelationshipCost, SealedText,
    SolutionDelivered, SolutionKind, ThirdPartyProofShared, Timestamp, Visit,
};

/// `{"a":..,"b":..}` with exactly the fields named, in that order (the declaration order,
/// which is the order serde's derive writes them in), into a struct literal: the compiler
/// checks that every field is named, the tests that the order is the written one.
macro_rules! fields {
    ($c:expr, $ty:ident { $first:ident $(, $field:ident)* $(,)? }) => {{
        let c: &mut Cursor<'_> = $c;
        c.lit(b"{")?;
        c.key(stringify!($first))?;
        let $first = Field::parse(c)?;
        $(
            c.lit(b",")?;
            c.key(stringify!($field))?;
            let $field = Field::parse(c)?;
        )*
        c.lit(b"}")?;
        $ty { $first $(, $field)* }
    }};
}

impl Cursor<'_> {
    /// `{"<payload name>":{...}}`.
    pub(super) fn payload(&mut self) -> Option<EventPayload> {
        self.lit(b"{")?;
        let name = self.plain_str()?;
        self.lit(b":")?;
        let payload = match name {
            "account_opened" => EventPayload::AccountOpened(fields!(
                self,
                AccountOpened {
                    name,
                    segment,
                    owner,
                    industry,
                    region
                }
            )),
            "contact_added" => EventPayload::ContactAdded(fields!(
                self,
                ContactAdded {
                    contact_id,
                    name,
                    role,
                    title,
                    phone,
                    email,
                    public_official,
                    notes
                }
            )),
            "contact_left" => {
                EventPayload::ContactLeft(fields!(self, ContactLeft { contact_id, reason }))
            }
            "introduction_made" => EventPayload::IntroductionMade(fields!(
                self,
                IntroductionMade {
                    contact_id,
                    introduced_by,
                    relationship,
                    notes
                }
            )),
            "visit" => EventPayload::Visit(fields!(
                self,
                Visit {
                    contact_ids,
                    purpose,
                    summary,
                    next_visit_on,
                    next_visit_pretext
                }
            )),
            "call" => EventPayload::Call(fields!(
                self,
                Call {
                    contact_id,
                    summary
                }
            )),
            "promise_made" => EventPayload::PromiseMade(fields!(
                self,
                PromiseMade {
                    promise_id,
                    contact_id,
                    description,
                    due_at
                }
            )),
            "promise_kept" => {
                EventPayload::PromiseKept(fields!(self, PromiseKept { promise_id, note }))
            }
            "promise_broken" => {
                EventPayload::PromiseBroken(fields!(self, PromiseBroken { promise_id, reason }))
            }
            "solution_delivered" => EventPayload::SolutionDelivered(fields!(
                self,
                SolutionDelivered {
                    kind,
                    contact_ids,
                    description
                }
            )),
            "third_party_proof_shared" => EventPayload::ThirdPartyProofShared(fields!(
                self,
                ThirdPartyProofShared {
                    kind,
                    contact_ids,
                    issuer,
                    description
                }
            )),
            "favor_given" => EventPayload::FavorGiven(fields!(
                self,
                FavorGiven {
                    contact_id,
                    kind,
                    value,
                    purpose,
                    recipient_is_public_official,
                    approval_reference,
                    description
                }
            )),
            "order_won" => EventPayload::OrderWon(fields!(
                self,
                OrderWon {
                    order_id,
                    revenue,
                    margin,
                    product,
                    description
                }
            )),
            "order_lost" => EventPayload::OrderLost(fields!(
                self,
                OrderLost {
                    order_id,
                    reason,
                    competitor,
                    lost_revenue
                }
            )),
            "price_concession_demanded" => EventPayload::PriceConcessionDemanded(fields!(
                self,
                PriceConcessionDemanded {
                    order_id,
                    discount_basis_points,
                    ultimatum,
                    competitor,
                    description
                }
            )),
            "invoice_issued" => EventPayload::InvoiceIssued(fields!(
                self,
                InvoiceIssued {
                    invoice_id,
                    amount,
                    due_at,
                    order_id
                }
            )),
            "payment_received" => EventPayload::PaymentReceived(fields!(
                self,
                PaymentReceived {
                    invoice_id,
                    amount,
                    reference
                }
            )),
            "critical_assistance" => EventPayload::CriticalAssistance(fields!(
                self,
                CriticalAssistance {
                    contact_ids,
                    description,
                    value_protected
                }
            )),
            "relationship_cost" => EventPayload::RelationshipCost(fields!(
                self,
                RelationshipCost {
                    amount,
                    category,
                    description
                }
            )),
            "contact_forgotten" => EventPayload::ContactForgotten(fields!(
                self,
                ContactForgotten { contact_id, reason }
            )),
            _ => return None,
        };
        self.lit(b"}")?;
        Some(payload)
    }
}

/// A value of a field of a payload, as the canonical encoding writes it.
trait Field: Sized {
    fn parse(c: &mut Cursor<'_>) -> Option<Self>;
}

impl Field for String {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.string()
    }
}

impl Field for bool {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.bool()
    }
}

impl Field for u32 {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.u32()
    }
}

impl Field for i64 {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.i64()
    }
}

impl Field for Timestamp {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.i64().map(Timestamp::from_unix_nanos)
    }
}

impl<T: Field> Field for Option<T> {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        if c.eat(b"null") {
            Some(None)
        } else {
            T::parse(c).map(Some)
        }
    }
}

impl<T: Field> Field for Vec<T> {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        c.lit(b"[")?;
        let mut items = Vec::new();
        if c.eat(b"]") {
            return Some(items);
        }
        loop {
            items.push(T::parse(c)?);
            if c.eat(b"]") {
                return Some(items);
            }
            c.lit(b",")?;
        }
    }
}

impl Field for Money {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        Some(fields!(
            c,
            Money {
                currency,
                minor_units
            }
        ))
    }
}

/// A plain string, or `{"sealed":{"nonce":"..","ciphertext":".."}}` (the erased form is never
/// stored: left to serde_json, as is anything else).
impl Field for PersonalText {
    fn parse(c: &mut Cursor<'_>) -> Option<Self> {
        if c.peek() == Some(b'"') {
            return c.string().map(PersonalText::Plain);
        }
        c.lit(b"{\"sealed\":{\"nonce\":")?;
        let nonce = c.plain_str()?;
        c.lit(b",\"ciphertext\":")?;
        let ciphertext = c.plain_str()?;
        c.lit(b"}}")?;
        let nonce = <[u8; NONCE_LEN]>::try_from(hex::decode(nonce).ok()?).ok()?;
        let ciphertext = hex::decode(ciphertext).ok()?;
        Some(PersonalText::Sealed(SealedText { nonce, ciphertext }))
    }
}

/// An enum of unit variants, named in snake case: its own `Deserialize` reads the name, so
/// the names accepted are exactly serde's.
macro_rules! unit_enum_field {
    ($($ty:ty),*) => {$(
        impl Field for $ty {
            fn parse(c: &mut Cursor<'_>) -> Option<Self> {
                let name = c.plain_str()?;
                <$ty>::deserialize(BorrowedStrDeserializer::<ValueError>::new(name)).ok()
            }
        }
    )*};
}
unit_enum_field!(
    ContactRole,
    AccountSegment,
    SolutionKind,
    ProofKind,
    FavorKind
);
