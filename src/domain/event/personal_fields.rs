//! Which fields of a payload are personal data about one contact: what the privacy layer seals
//! under that contact's key and erases when the contact is forgotten.

use super::EventPayload;
use crate::domain::personal::PersonalText;

impl EventPayload {
    /// The personal fields of this payload and the contact they are about: the contact whose
    /// data key seals them and whose erasure erases them. `None` for a payload with none.
    /// Each field is named as in the wire payload (`name`, `notes`).
    pub fn personal_fields(&self) -> Option<PersonalFields<'_, &PersonalText>> {
        match self {
            EventPayload::ContactAdded(c) => Some(PersonalFields {
                contact_id: &c.contact_id,
                fields: vec![
                    ("name", &c.name),
                    ("phone", &c.phone),
                    ("email", &c.email),
                    ("notes", &c.notes),
                ],
            }),
            EventPayload::ContactLeft(c) => Some(PersonalFields {
                contact_id: &c.contact_id,
                fields: vec![("reason", &c.reason)],
            }),
            EventPayload::IntroductionMade(i) => Some(PersonalFields {
                contact_id: &i.contact_id,
                fields: vec![("relationship", &i.relationship), ("notes", &i.notes)],
            }),
            // Exhaustive on purpose: a new payload with text about one person must decide here
            // whether that text is personal data.
            EventPayload::AccountOpened(_)
            | EventPayload::Visit(_)
            | EventPayload::Call(_)
            | EventPayload::PromiseMade(_)
            | EventPayload::PromiseKept(_)
            | EventPayload::PromiseBroken(_)
            | EventPayload::SolutionDelivered(_)
            | EventPayload::ThirdPartyProofShared(_)
            | EventPayload::FavorGiven(_)
            | EventPayload::OrderWon(_)
            | EventPayload::OrderLost(_)
            | EventPayload::PriceConcessionDemanded(_)
            | EventPayload::InvoiceIssued(_)
            | EventPayload::PaymentReceived(_)
            | EventPayload::CriticalAssistance(_)
            | EventPayload::RelationshipCost(_)
            | EventPayload::ContactForgotten(_) => None,
        }
    }

    /// [`EventPayload::personal_fields`], to seal or open them in place.
    pub fn personal_fields_mut(&mut self) -> Option<PersonalFields<'_, &mut PersonalText>> {
        match self {
            EventPayload::ContactAdded(c) => Some(PersonalFields {
                contact_id: &c.contact_id,
                fields: vec![
                    ("name", &mut c.name),
                    ("phone", &mut c.phone),
                    ("email", &mut c.email),
                    ("notes", &mut c.notes),
                ],
            }),
            EventPayload::ContactLeft(c) => Some(PersonalFields {
                contact_id: &c.contact_id,
                fields: vec![("reason", &mut c.reason)],
            }),
            EventPayload::IntroductionMade(i) => Some(PersonalFields {
                contact_id: &i.contact_id,
                fields: vec![
                    ("relationship", &mut i.relationship),
                    ("notes", &mut i.notes),
                ],
            }),
            // Exhaustive on purpose: a new payload with text about one person must decide here
            // whether that text is personal data.
            EventPayload::AccountOpened(_)
            | EventPayload::Visit(_)
            | EventPayload::Call(_)
            | EventPayload::PromiseMade(_)
            | EventPayload::PromiseKept(_)
            | EventPayload::PromiseBroken(_)
            | EventPayload::SolutionDelivered(_)
            | EventPayload::ThirdPartyProofShared(_)
            | EventPayload::FavorGiven(_)
            | EventPayload::OrderWon(_)
            | EventPayload::OrderLost(_)
            | EventPayload::PriceConcessionDemanded(_)
            | EventPayload::InvoiceIssued(_)
            | EventPayload::PaymentReceived(_)
            | EventPayload::CriticalAssistance(_)
            | EventPayload::RelationshipCost(_)
            | EventPayload::ContactForgotten(_) => None,
        }
    }
}

/// The personal fields of one payload, all about one contact.
#[derive(Debug)]
pub struct PersonalFields<'a, T> {
    /// The contact they are about.
    pub contact_id: &'a str,
    /// Each field's wire name and value.
    pub fields: Vec<(&'static str, T)>,
}
