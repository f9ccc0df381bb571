//! What the merchant does for one person (`/admin/people`): look them up by email or
//! phone, see their signups and consent history, hand them everything kept about them (a
//! data-subject access request), withdraw their consent on their behalf, or erase them.
//! Every one of these is itself an event in the ledger. And the export of everyone's
//! consent as it stands, for the merchant's email tool.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::export::push_line;
use super::search::{FoundSubmission, find};
use super::status::at_ms;
use super::{ExportRow, Statistics};
use crate::consent::{
    Actor, ConsentChannel, ConsentEvent, ConsentKind, ConsentLedger, ConsentLinks, ConsentState,
    Erased, PersonKey, PersonKeys, Standing, standing,
};
use crate::domain::{EmailAddress, PhoneNumber};
use crate::events::Events;
use crate::intake::store::{HeldSignup, SubmissionStore};
use crate::storage::SignupDetails;
use crate::storage::StorageError;

/// What the merchant typed to find someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// As stored: trimmed and lower-cased.
    Email(String),
    /// As stored.
    Phone(String),
}

impl Lookup {
    /// An email address if it has an `@`, else a phone number; `None` for neither.
    pub fn parse(query: &str) -> Option<Self> {
        let query = query.trim();
        if query.contains('@') {
            let email = EmailAddress::parse(query).ok()?;
            Some(Self::Email(email.as_ref().to_owned()))
        } else {
            let phone = PhoneNumber::parse(query).ok()?;
            Some(Self::Phone(phone.as_ref().to_owned()))
        }
    }
}

/// Everything kept about one person.
#[derive(Debug)]
pub struct Person {
    pub email: String,
    pub key: PersonKey,
    /// Their signups, newest first.
    pub submissions: Vec<FoundSubmission>,
    /// Their consent events, oldest first.
    pub history: Vec<ConsentEvent>,
    /// Where they stand now, per channel.
    pub standing: BTreeMap<ConsentChannel, Standing>,
}

impl Person {
    /// The Clover customers their signups became.
    pub fn clover_customers(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .submissions
            .iter()
            .filter_map(|s| s.clover_customer_id.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The ports and keys the people pages work with.
pub struct People<'a> {
    pub ledger: Arc<dyn ConsentLedger>,
    pub statistics: Arc<dyn Statistics>,
    /// For the signups held for a confirmation.
    pub submissions: Arc<dyn SubmissionStore>,
    pub keys: &'a PersonKeys,
}

impl People<'_> {
    /// Everyone `lookup` names, each with all that is kept about them; the look is
    /// recorded for each person found.
    pub async fn look_up(&self, lookup: &Lookup) -> Result<Vec<Person>, StorageError> {
        let emails = match lookup {
            Lookup::Email(email) => vec![email.clone()],
            Lookup::Phone(phone) => self.ledger.emails_with_phone(phone).await?,
        };
        let mut found = Vec::new();
        for email in emails {
            let person = self.person(&email).await?;
            if person.submissions.is_empty() && person.history.is_empty() {
                continue;
            }
            self.note(&person.key, ConsentKind::Viewed).await?;
            found.push(person);
        }
        Ok(found)
    }

    /// All that is kept about the person with `email`.
    pub async fn person(&self, email: &str) -> Result<Person, StorageError> {
        let key = self.keys.of(email);
        let submissions = find(&*self.statistics, email).await?;
        let history = self.ledger.history(&key).await?;
        Ok(Person {
            email: email.to_owned(),
            standing: standing(&history),
            key,
            submissions,
            history,
        })
    }

    /// Everything kept about the person with `email`, as JSON, for them; the export is
    /// recorded.
    pub async fn access_report(&self, email: &str) -> Result<Value, StorageError> {
        let person = self.person(email).await?;
        let signups = self.statistics.kept_about(email).await?;
        let held = self.submissions.held(&person.key).await?;
        self.note(&person.key, ConsentKind::Exported).await?;
        Ok(access_report(&person, &signups, &held))
    }

    /// Withdraws the person's consent on `channel` on their behalf. `false` when there
    /// was none to withdraw.
    pub async fn withdraw(
        &self,
        email: &str,
        channel: ConsentChannel,
        events: &Events,
    ) -> Result<bool, StorageError> {
        let key = self.keys.of(email);
        let history = self.ledger.history(&key).await?;
        // Given, confirmed, or waiting for its confirmation: all may be taken back.
        let standing_now = standing(&history).remove(&channel);
        if standing_now.is_none_or(|s| s.state == ConsentState::Withdrawn) {
            return Ok(false);
        }
        let event = ConsentEvent::now(key.clone(), ConsentKind::Withdrawn, Actor::Merchant)
            .on(channel)
            .from_source("admin");
        self.ledger.record(event).await?;
        events
            .consent_withdrawn(&key, channel, Actor::Merchant, Some(email))
            .await;
        Ok(true)
    }

    /// Erases the person here: their signups' personal data, their evidence and the
    /// events waiting for the event webhook that name them. The ledger keeps, under the
    /// keyed hash, that each event happened.
    /// `source` says where: `admin`, or `admin+clover` when the Clover customer was
    /// deleted too.
    pub async fn erase(&self, email: &str, source: &str) -> Result<Erased, StorageError> {
        let key = self.keys.of(email);
        let erased = ConsentEvent::now(key.clone(), ConsentKind::Erased, Actor::Merchant)
            .from_source(source);
        self.ledger.erase(&key, email, erased).await
    }

    /// Records that the merchant looked at the person (the erasure's confirmation, say).
    pub async fn viewed(&self, person: &Person) -> Result<(), StorageError> {
        self.note(&person.key, ConsentKind::Viewed).await
    }

    async fn note(&self, key: &PersonKey, kind: ConsentKind) -> Result<(), StorageError> {
        let event = ConsentEvent::now(key.clone(), kind, Actor::Merchant).from_source("admin");
        self.ledger.record(event).await
    }
}

/// The JSON a person gets for an access request: their signups (when, their state, their
/// Clover customer), their consent
/// now and every event of it, with the evidence kept.
pub fn access_report(person: &Person, signups: &[ExportRow], held: &[HeldSignup]) -> Value {
    let consents: Vec<Value> = person
        .standing
        .iter()
        .map(|(channel, standing)| {
            json!({
                "channel": channel.as_str(),
                "state": standing.state.as_str(),
                "since": at_ms(standing.since_ms),
            })
        })
        .collect();
    json!({
        "email": person.email,
        "clover_customer_ids": person.clover_customers(),
        "signups": signups.iter().map(signup_json).collect::<Vec<_>>(),
        "signups_waiting_for_confirmation": held.iter().map(held_json).collect::<Vec<_>>(),
        "consent": consents,
        "consent_history": person.history.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// A signup, whole, as stored.
fn signup_json(row: &ExportRow) -> Value {
    json!({
        "id": row.id,
        "received_at": at_ms(row.received_at_ms),
        "source": row.source,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "phone": row.phone,
        "details": row.details,
        "marketing_consent": row.marketing_consent,
        "state": row.state,
        "delivered_at": row.delivered_at_ms.map(at_ms),
        "clover_customer_id": row.clover_customer_id,
    })
}

fn held_json(held: &HeldSignup) -> Value {
    let content = &held.content;
    json!({
        "id": held.id,
        "received_at": at_ms(held.received_at_ms),
        "first_name": content.first_name,
        "last_name": content.last_name,
        "email": content.email,
        "phone": content.phone,
        "details": SignupDetails::from_stored(content.details.clone()),
        "marketing_consent": content.marketing_consent,
    })
}

fn event_json(event: &ConsentEvent) -> Value {
    json!({
        "at": at_ms(event.occurred_at_ms),
        "event": event.kind.as_str(),
        "channel": event.channel.map(|c| c.as_str()),
        "by": event.actor.as_str(),
        "source": event.source,
        "consent_text": event.wording.as_ref().map(|w| &w.text),
        "consent_text_version": event.wording.as_ref().map(|w| &w.version),
        "language": event.wording.as_ref().map(|w| &w.language),
        "form_id": event.form_id,
        "submission_id": event.submission_id,
        "email": event.evidence.as_ref().map(|e| &e.email),
        "phone": event.evidence.as_ref().and_then(|e| e.phone.as_ref()),
        "ip_address": event.evidence.as_ref().and_then(|e| e.ip_address.as_ref()),
        "user_agent": event.evidence.as_ref().and_then(|e| e.user_agent.as_ref()),
    })
}

/// The columns of the export of current consents.
pub const CONSENT_COLUMNS: [&str; 10] = [
    "email",
    "phone",
    "channel",
    "state",
    "since",
    "consent_text",
    "consent_text_version",
    "language",
    "source",
    "preferences_url",
];

/// Everyone who may be sent marketing now, per channel, from every event (oldest
/// first): since when, with which words, and where they gave them, with the address of
/// their consent page, for the merchant's own emails to link to. Someone erased or
/// withdrawn is not in it.
pub fn current_consents_csv(events: &[ConsentEvent], links: &ConsentLinks) -> String {
    let mut by_person: BTreeMap<&PersonKey, Vec<ConsentEvent>> = BTreeMap::new();
    for event in events {
        by_person
            .entry(&event.person)
            .or_default()
            .push(event.clone());
    }
    let mut out = String::new();
    push_line(&mut out, CONSENT_COLUMNS.iter().map(|c| (*c).to_owned()));
    for history in by_person.values() {
        for (channel, standing) in standing(history) {
            let given = standing.given.as_ref();
            let (Some(given), true) = (given, standing.state.allows_marketing()) else {
                continue;
            };
            let Some(evidence) = &given.evidence else {
                continue;
            };
            let wording = given.wording.as_ref();
            let text = |value: Option<&String>| value.cloned().unwrap_or_default();
            push_line(
                &mut out,
                [
                    evidence.email.clone(),
                    text(evidence.phone.as_ref()),
                    channel.as_str().to_owned(),
                    standing.state.as_str().to_owned(),
                    at_ms(standing.since_ms),
                    text(wording.map(|w| &w.text)),
                    text(wording.map(|w| &w.version)),
                    text(wording.map(|w| &w.language)),
                    text(given.source.as_ref()),
                    links.preferences_url(&given.person, channel),
                ]
                .into_iter(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentRecording, Given, IpRecording, Wording};

    fn given(email: &str, at: i64) -> ConsentEvent {
        let recording = ConsentRecording {
            keys: PersonKeys::new(None),
            ip: IpRecording::Off,
        };
        let mut event = recording.given(Given {
            email,
            phone: None,
            channel: ConsentChannel::Email,
            wording: Wording::new("Yes, email me.", "fr"),
            source: "embed".to_owned(),
            form_id: None,
            ip_address: None,
            user_agent: None,
            needs_confirmation: false,
        });
        event.occurred_at_ms = at;
        event
    }

    #[test]
    fn the_consent_export_lists_who_may_be_emailed_now() {
        let keys = PersonKeys::new(None);
        let withdrawn = ConsentEvent::now(
            keys.of("bob@example.com"),
            ConsentKind::Withdrawn,
            Actor::Visitor,
        )
        .on(ConsentChannel::Email);
        let events = [
            given("ana@example.com", 1_772_323_200_000),
            given("bob@example.com", 1_772_323_200_000),
            withdrawn,
        ];
        let links = ConsentLinks::new(None, &url::Url::parse("https://s.example").unwrap());
        let csv = current_consents_csv(&events, &links);
        let version = crate::consent::text_version("Yes, email me.");
        let page = links.preferences_url(&keys.of("ana@example.com"), ConsentChannel::Email);
        let expected = format!(
            "{}\r\nana@example.com,,email,given,2026-03-01T00:00:00Z,\"Yes, email me.\",{version},fr,embed,{page}\r\n",
            CONSENT_COLUMNS.join(",")
        );
        assert_eq!(csv, expected, "bob withdrew");
    }

    #[test]
    fn a_lookup_is_an_email_with_an_at_sign_and_a_phone_otherwise() {
        assert_eq!(
            Lookup::parse(" Ana@Example.com "),
            Some(Lookup::Email("ana@example.com".into()))
        );
        assert!(matches!(
            Lookup::parse("+1 555 010 4477"),
            Some(Lookup::Phone(_))
        ));
        assert_eq!(Lookup::parse("not@"), None);
        assert_eq!(Lookup::parse("hello"), None);
    }
}
