//! Who has withdrawn, kept in memory: every signup with a ticked box asks whether its
//! person withdrew before (a withdrawal stands against a form anyone can send), and
//! asking the database each time cost a third of the signups a second the service can
//! store. The set is read whole at start, then followed every few seconds from the
//! withdrawals and erasures recorded since, by any instance; a withdrawal made here is in
//! it at once. Another instance's is in it within [`FOLLOW_EVERY`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ConsentKind, ConsentLedger, PersonKey};
use crate::storage::StorageError;

/// How often the withdrawals and erasures other instances recorded are taken up.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// How far before the newest event taken up each look starts again. Instances' clocks
/// differ, and a commit can land after a later-stamped one: an event stamped before the
/// newest seen may appear only now. Taking the same events up again, in order, changes
/// nothing.
const LOOK_BACK: Duration = Duration::from_secs(60);

/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Withdrawn {
    inner: Arc<Mutex<Followed>>,
}

#[derive(Default)]
struct Followed {
    people: HashSet<PersonKey>,
    /// The newest event taken up (Unix ms); the next look asks from [`LOOK_BACK`]
    /// before it.
    seen_until_ms: i64,
}

impl Withdrawn {
    fn followed(&self) -> std::sync::MutexGuard<'_, Followed> {
        // A plain set: a panic elsewhere cannot leave it half-changed.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `person`'s withdrawal stands.
    pub fn contains(&self, person: &PersonKey) -> bool {
        self.followed().people.contains(person)
    }

    /// A withdrawal recorded here.
    pub fn add(&self, person: PersonKey) {
        self.followed().people.insert(person);
    }

    /// An erasure recorded here: the person starts afresh.
    pub fn remove(&self, person: &PersonKey) {
        self.followed().people.remove(person);
    }

    /// Takes up the withdrawals and erasures recorded since the last look, in order.
    pub async fn follow(&self, ledger: &dyn ConsentLedger) -> Result<(), StorageError> {
        let since = (self.followed().seen_until_ms)
            .saturating_sub(LOOK_BACK.as_millis() as i64)
            .max(0);
        let events = ledger.withdrawals_since(since).await?;
        let mut followed = self.followed();
        for (person, kind, at_ms) in events {
            match kind {
                ConsentKind::Withdrawn => followed.people.insert(person),
                ConsentKind::Erased => followed.people.remove(&person),
                _ => false,
            };
            followed.seen_until_ms = followed.seen_until_ms.max(at_ms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::PersonKeys;

    #[test]
    fn a_withdrawal_stands_until_an_erasure() {
        let withdrawn = Withdrawn::default();
        let ana = PersonKeys::new(None).of("ana@example.com");
        assert!(!withdrawn.contains(&ana));
        withdrawn.add(ana.clone());
        assert!(withdrawn.contains(&ana));
        withdrawn.remove(&ana);
        assert!(!withdrawn.contains(&ana));
    }
}
