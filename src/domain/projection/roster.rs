//! Who is at the account: its segment and its contacts, as the visible events tell.
//!
//! Trust, cadence and alerts all ask the same questions of the contacts (role, active or
//! left, public official), so one pass answers them once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::event::{AccountSegment, ContactRole, EventPayload};
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

/// One contact as the projection sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contact {
    /// The buying role, which weighs the contact's trust into the account's.
    pub role: ContactRole,
    /// Flagged public official when added: favors need an approval reference.
    pub public_official: bool,
    /// When and by which event the contact left; its score is frozen from then on.
    pub left: Option<(Timestamp, EventId)>,
}

impl Contact {
    /// A contact named by an event but never added. Validation should prevent it; the
    /// projection stays total rather than fail, and gives such a contact the lightest role.
    fn unknown() -> Self {
        Contact {
            role: ContactRole::Other,
            public_official: false,
            left: None,
        }
    }

    /// Still at the account: counts in the totals, the bond test and the cadence role.
    pub fn is_active(&self) -> bool {
        self.left.is_none()
    }

    /// The clock the contact's personal evidence is aged by: the projection's `as_of`, or
    /// the moment it left, which freezes its score there.
    pub fn clock(&self, as_of: Timestamp) -> Timestamp {
        self.left.map_or(as_of, |(at, _)| at.min(as_of))
    }
}

/// The account's segment and contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Roster {
    /// Standard or key account (a key account is visited more often).
    pub segment: AccountSegment,
    /// Contacts by id; a `BTreeMap` so every walk over them is in one order.
    pub contacts: BTreeMap<String, Contact>,
}

impl Default for Roster {
    /// No contacts, and a standard account until it is opened as a key one.
    fn default() -> Self {
        Roster {
            segment: AccountSegment::Standard,
            contacts: BTreeMap::new(),
        }
    }
}

impl Roster {
    /// Reads the roster from `events`, the account's visible events in log order.
    pub fn read(events: &[&RecordedEvent]) -> Self {
        let mut roster = Roster::default();
        for record in events {
            roster.apply(record);
        }
        roster
    }

    /// Whether [`Roster::apply`] of `record` may change the roster.
    pub fn changed_by(record: &RecordedEvent) -> bool {
        matches!(
            record.event.payload,
            EventPayload::AccountOpened(_)
                | EventPayload::ContactAdded(_)
                | EventPayload::ContactLeft(_)
        )
    }

    /// Reads one more event. Returns the contact that it made leave, if it did.
    pub fn apply<'e>(&mut self, record: &'e RecordedEvent) -> Option<(&'e str, Timestamp)> {
        let event = &record.event;
        match &event.payload {
            EventPayload::AccountOpened(opened) => self.segment = opened.segment,
            EventPayload::ContactAdded(added) => {
                self.contacts
                    .entry(added.contact_id.clone())
                    .or_insert(Contact {
                        role: added.role,
                        public_official: added.public_official,
                        left: None,
                    });
            }
            EventPayload::ContactLeft(left) => {
                let contact = self
                    .contacts
                    .entry(left.contact_id.clone())
                    .or_insert_with(Contact::unknown);
                if contact.left.is_none() {
                    contact.left = Some((event.occurred_at, event.event_id));
                    return Some((left.contact_id.as_str(), event.occurred_at));
                }
            }
            _ => {}
        }
        None
    }

    /// The contact `id`, or an unknown contact's defaults.
    pub fn contact(&self, id: &str) -> Contact {
        self.contacts
            .get(id)
            .cloned()
            .unwrap_or_else(Contact::unknown)
    }

    /// The role of the most senior active contact (the order of `ContactRole`), if any.
    pub fn most_senior_active_role(&self) -> Option<ContactRole> {
        self.contacts
            .values()
            .filter(|c| c.is_active())
            .map(|c| c.role)
            .min()
    }
}
