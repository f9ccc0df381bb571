//! The ledger's port, implemented for SQLite and PostgreSQL in `storage` (contract tests:
//! `tests/storage/consent.rs`), and what a person's consent is now, read from their
//! events.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{ConsentChannel, ConsentEvent, ConsentKind, PersonKey};
use crate::storage::StorageError;

/// Where consent events are kept. Nothing here changes an event: events are only added,
/// and an erasure removes the evidence beside them.
#[async_trait]
pub trait ConsentLedger: Send + Sync {
    /// Adds one event, with its evidence if it has any. (A consent given with a signup
    /// is stored with the signup, in its transaction: see
    /// [`crate::intake::store::NewSubmission`].)
    async fn record(&self, event: ConsentEvent) -> Result<(), StorageError>;

    /// Every event about `person`, oldest first, with the evidence still kept.
    async fn history(&self, person: &PersonKey) -> Result<Vec<ConsentEvent>, StorageError>;

    /// The email addresses stored with `phone` (as stored), in signups or in consents.
    async fn emails_with_phone(&self, phone: &str) -> Result<Vec<String>, StorageError>;

    /// Every event of every person, oldest first, with its evidence: what the export of
    /// current consents is made from.
    async fn every_event(&self) -> Result<Vec<ConsentEvent>, StorageError>;

    /// Erases the person: their signups keep only what the counts need (those still
    /// waiting for delivery or for a confirmation go), their evidence is removed, and so
    /// are the emails to them and the events for the event webhook that name them; then
    /// `erased` is added, all in one transaction. SQLite's log is emptied afterwards, so
    /// that no copy of the old pages stays in it.
    async fn erase(
        &self,
        person: &PersonKey,
        email: &str,
        erased: ConsentEvent,
    ) -> Result<Erased, StorageError>;

    /// The withdrawals and erasures recorded from `since_ms` on, oldest first: who, which,
    /// when (see [`super::Withdrawn`]).
    async fn withdrawals_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(PersonKey, ConsentKind, i64)>, StorageError>;

    /// The people with evidence still kept who withdrew a consent before `cutoff_ms`:
    /// those whose evidence may have outlived its use (see [`forget_ended`]).
    async fn withdrawn_before(&self, cutoff_ms: i64) -> Result<Vec<PersonKey>, StorageError>;

    /// Removes the evidence beside every event about `person` before `cutoff_ms`; the
    /// events stay. Returns how many events lost theirs. (An event after the cutoff,
    /// come in since the person's events were read, keeps its own.)
    async fn remove_evidence(
        &self,
        person: &PersonKey,
        cutoff_ms: i64,
    ) -> Result<u64, StorageError>;
}

/// Removes the evidence of consents that ended before `cutoff_ms` (the retention period
/// ago): a person with no consent standing, whose last one was withdrawn before it. A
/// consent that stands keeps its evidence, which is what proves it; once it ends, the
/// proof that it did stays in the events. Returns how many events lost their evidence.
pub async fn forget_ended(ledger: &dyn ConsentLedger, cutoff_ms: i64) -> Result<u64, StorageError> {
    let mut forgotten = 0;
    for person in ledger.withdrawn_before(cutoff_ms).await? {
        let history = ledger.history(&person).await?;
        let standings = standing(&history);
        let ended = standings
            .values()
            .all(|s| s.state == ConsentState::Withdrawn && s.since_ms < cutoff_ms);
        if ended {
            forgotten += ledger.remove_evidence(&person, cutoff_ms).await?;
        }
    }
    Ok(forgotten)
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Signups whose personal data was removed (their delivery, if still waiting, too).
    pub submissions: u64,
    /// Events whose evidence was removed.
    pub evidence: u64,
}

/// Where a person stands on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub state: ConsentState,
    /// Since when: the event that put it there.
    pub since_ms: i64,
    /// The consent the state rests on: its words, source and evidence. For a withdrawal,
    /// the last one given.
    pub given: Option<ConsentEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Given with a signup under double opt-in, and not confirmed yet: not consent yet.
    Unconfirmed,
    /// Given with a signup.
    Given,
    /// Given, and the address proved theirs.
    Confirmed,
    /// Taken back.
    Withdrawn,
}

impl ConsentState {
    /// Whether the merchant may send marketing on the channel now.
    pub fn allows_marketing(self) -> bool {
        matches!(self, Self::Given | Self::Confirmed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "unconfirmed",
            Self::Given => "given",
            Self::Confirmed => "confirmed",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// Where a person stands on each channel, after `events` (oldest first). A new consent
/// given with a signup never undoes a withdrawal or a confirmation: anyone can type an
/// address into a form. An erasure starts the person afresh.
pub fn standing(events: &[ConsentEvent]) -> BTreeMap<ConsentChannel, Standing> {
    let mut standings: BTreeMap<ConsentChannel, Standing> = BTreeMap::new();
    for (at, event) in events.iter().enumerate() {
        if event.kind == ConsentKind::Erased {
            standings.clear();
            continue;
        }
        let Some(channel) = event.channel else {
            continue;
        };
        let current = standings.get(&channel);
        let next = match (event.kind, current.map(|s| s.state)) {
            // A withdrawal stands whatever a form is sent; the new words are still the last
            // ones given.
            (ConsentKind::Given, Some(ConsentState::Withdrawn)) => {
                let mut kept = current.cloned().expect("matched Some");
                kept.given = Some(event.clone());
                kept
            }
            // A confirmation stands too, and so does a consent given when a new one would
            // wait for a confirmation; each keeps the proof it rests on, not the words of
            // whoever typed the address since.
            (ConsentKind::Given, Some(state))
                if state == ConsentState::Confirmed
                    || (state == ConsentState::Given && event.needs_confirmation) =>
            {
                continue;
            }
            (ConsentKind::Given, _) => Standing {
                state: if event.needs_confirmation {
                    ConsentState::Unconfirmed
                } else {
                    ConsentState::Given
                },
                since_ms: event.occurred_at_ms,
                given: Some(event.clone()),
            },
            // A confirmation naming a signup confirms the consent given with that one.
            (ConsentKind::Confirmed, _) => Standing {
                state: ConsentState::Confirmed,
                since_ms: event.occurred_at_ms,
                given: event
                    .submission_id
                    .as_deref()
                    .and_then(|id| given_with(&events[..at], channel, id))
                    .or_else(|| current.and_then(|s| s.given.clone())),
            },
            (ConsentKind::Withdrawn, _) => Standing {
                state: ConsentState::Withdrawn,
                since_ms: event.occurred_at_ms,
                given: current.and_then(|s| s.given.clone()),
            },
            (ConsentKind::Erased | ConsentKind::Viewed | ConsentKind::Exported, _) => continue,
        };
        standings.insert(channel, next);
    }
    standings
}

/// The events after the person's last erasure (all of them if never erased): an erasure
/// starts the person afresh.
pub fn since_erasure(events: &[ConsentEvent]) -> &[ConsentEvent] {
    events
        .iter()
        .rposition(|event| event.kind == ConsentKind::Erased)
        .map_or(events, |erased| &events[erased + 1..])
}

/// The consent given on `channel` with the signup `submission_id`, among `events`.
fn given_with(
    events: &[ConsentEvent],
    channel: ConsentChannel,
    submission_id: &str,
) -> Option<ConsentEvent> {
    since_erasure(events)
        .iter()
        .rev()
        .find(|event| {
            event.kind == ConsentKind::Given
                && event.channel == Some(channel)
                && event.submission_id.as_deref() == Some(submission_id)
        })
        .cloned()
}

/// The consents a confirmation link confirms, each with the signup it was given with:
/// those given with the signup the link names (`signup`), waiting for it or given again
/// on a channel confirmed before (its words and phone are then the ones that stand); or,
/// for a link that names none, those waiting that were given before its email was queued
/// (`issued_secs`, to the second, so any time within that second counts as before).
/// Never one that somebody else gave later under the same address, and none on a channel
/// withdrawn.
pub fn confirmable(
    events: &[ConsentEvent],
    signup: Option<&str>,
    issued_secs: i64,
) -> Vec<(ConsentChannel, Option<String>)> {
    let sent_by_ms = issued_secs.saturating_add(1).saturating_mul(1000);
    let standings = standing(events);
    let mut found: BTreeMap<ConsentChannel, Option<String>> = BTreeMap::new();
    for event in since_erasure(events) {
        let Some(channel) = event.channel else {
            continue;
        };
        let state = standings.get(&channel).map(|s| s.state);
        let this_links = match signup {
            Some(id) => {
                event.submission_id.as_deref() == Some(id)
                    && matches!(
                        state,
                        Some(ConsentState::Unconfirmed | ConsentState::Confirmed)
                    )
            }
            None => event.occurred_at_ms < sent_by_ms && state == Some(ConsentState::Unconfirmed),
        };
        if event.kind == ConsentKind::Given && event.needs_confirmation && this_links {
            // The latest one the link covers, where it covers several.
            found.insert(channel, event.submission_id.clone());
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Actor, PersonKeys};

    fn event(kind: ConsentKind, at: i64) -> ConsentEvent {
        let person = PersonKeys::new(None).of("ana@example.com");
        let mut event = ConsentEvent::now(person, kind, Actor::Visitor).on(ConsentChannel::Email);
        event.occurred_at_ms = at;
        event
    }

    #[test]
    fn a_consent_given_holds_until_withdrawn() {
        let events = [event(ConsentKind::Given, 1), event(ConsentKind::Viewed, 2)];
        let now = standing(&events);
        assert_eq!(now[&ConsentChannel::Email].state, ConsentState::Given);
        assert_eq!(now[&ConsentChannel::Email].since_ms, 1);

        let withdrawn = [
            event(ConsentKind::Given, 1),
            event(ConsentKind::Withdrawn, 5),
        ];
        let now = standing(&withdrawn);
        assert_eq!(now[&ConsentChannel::Email].state, ConsentState::Withdrawn);
        assert!(!now[&ConsentChannel::Email].state.allows_marketing());
    }

    /// A consent given under double opt-in on `channel`, with the signup `submission`.
    fn waiting(channel: ConsentChannel, submission: &str, at: i64) -> ConsentEvent {
        ConsentEvent {
            channel: Some(channel),
            submission_id: Some(submission.to_owned()),
            needs_confirmation: true,
            ..event(ConsentKind::Given, at)
        }
    }

    #[test]
    fn a_link_confirms_the_consents_of_its_own_signup_only() {
        // The owner ticked the email box; somebody else then sent the address with both.
        let events = [
            waiting(ConsentChannel::Email, "owner", 1_500),
            waiting(ConsentChannel::Email, "other", 5_000),
            waiting(ConsentChannel::Sms, "other", 5_000),
        ];
        assert_eq!(
            confirmable(&events, Some("owner"), 9),
            vec![(ConsentChannel::Email, Some("owner".to_owned()))]
        );
        assert_eq!(confirmable(&events, Some("nobody"), 9), vec![]);
        // A link naming no signup covers what was given before it was sent, to the second.
        assert_eq!(
            confirmable(&events, None, 1),
            vec![(ConsentChannel::Email, Some("owner".to_owned()))]
        );

        // Confirmed, the standing rests on the owner's consent, not the later one.
        let mut confirmed = events.to_vec();
        confirmed.push(ConsentEvent {
            submission_id: Some("owner".to_owned()),
            ..event(ConsentKind::Confirmed, 9_000)
        });
        let now = standing(&confirmed);
        let email = &now[&ConsentChannel::Email];
        assert_eq!(email.state, ConsentState::Confirmed);
        assert_eq!(email.given.as_ref(), Some(&events[0]));
        assert_eq!(now[&ConsentChannel::Sms].state, ConsentState::Unconfirmed);
        // The owner's next signup, its box ticked again, is confirmed with its own proof.
        confirmed.push(waiting(ConsentChannel::Email, "again", 10_000));
        assert_eq!(
            confirmable(&confirmed, Some("again"), 10),
            vec![(ConsentChannel::Email, Some("again".to_owned()))]
        );
        assert_eq!(
            confirmable(&confirmed, None, 10),
            vec![(ConsentChannel::Sms, Some("other".to_owned()))],
            "a link naming no signup covers only what still waits"
        );

        // A form sent since, by anyone, keeps the confirmed consent and its proof.
        confirmed.push(event(ConsentKind::Given, 12_000));
        assert_eq!(
            standing(&confirmed)[&ConsentChannel::Email].given.as_ref(),
            Some(&events[0])
        );
        // Until the owner confirms their next signup: its proof stands from then on.
        let again = confirmed[4].clone();
        confirmed.push(ConsentEvent {
            submission_id: Some("again".to_owned()),
            ..event(ConsentKind::Confirmed, 13_000)
        });
        assert_eq!(
            standing(&confirmed)[&ConsentChannel::Email].given.as_ref(),
            Some(&again)
        );
    }

    #[test]
    fn a_new_signup_never_undoes_a_withdrawal() {
        let events = [
            event(ConsentKind::Given, 1),
            event(ConsentKind::Withdrawn, 2),
            event(ConsentKind::Given, 3),
        ];
        let now = &standing(&events)[&ConsentChannel::Email];
        assert_eq!(now.state, ConsentState::Withdrawn);
        assert_eq!(now.since_ms, 2);
        assert_eq!(now.given.as_ref().unwrap().occurred_at_ms, 3);
    }

    #[test]
    fn under_double_opt_in_a_consent_counts_once_confirmed() {
        let unconfirmed = ConsentEvent {
            needs_confirmation: true,
            ..event(ConsentKind::Given, 1)
        };
        let now = standing(std::slice::from_ref(&unconfirmed));
        assert_eq!(now[&ConsentChannel::Email].state, ConsentState::Unconfirmed);
        assert!(!now[&ConsentChannel::Email].state.allows_marketing());
        let confirmed = [unconfirmed.clone(), event(ConsentKind::Confirmed, 2)];
        let now = &standing(&confirmed)[&ConsentChannel::Email];
        assert_eq!(now.state, ConsentState::Confirmed);
        assert_eq!(now.given.as_ref(), Some(&unconfirmed), "what was agreed to");
        // A consent given without confirmation is not undone by a later form that needs one.
        let later = [event(ConsentKind::Given, 1), unconfirmed];
        assert_eq!(
            standing(&later)[&ConsentChannel::Email].state,
            ConsentState::Given
        );
    }

    #[test]
    fn an_erasure_starts_the_person_afresh() {
        let events = [
            event(ConsentKind::Given, 1),
            event(ConsentKind::Withdrawn, 2),
            ConsentEvent {
                channel: None,
                ..event(ConsentKind::Erased, 3)
            },
        ];
        assert!(standing(&events).is_empty());
    }
}
