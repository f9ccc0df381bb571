use super::note::{consent_line, customer_note, reference};
use super::{DeliveryOutcome, QueuedDelivery};
use crate::clover::{CustomerDraft, ExistingCustomer};
use crate::domain::DuplicatePolicy;

/// What to do in Clover for one submission, decided from what a search by email found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A customer already carries this submission's reference: an earlier attempt created
    /// it even though its answer was lost. Adopt it; never create a second one.
    Adopt {
        customer_id: String,
    },
    /// Link to the existing customer, changing nothing but an empty note.
    Link {
        customer_id: String,
        /// The consent line, for a customer whose note is known to be empty.
        add_note: Option<String>,
    },
    /// Fill in what the existing customer lacks. Nothing is overwritten or removed.
    Complete {
        customer_id: String,
        add_phone: Option<String>,
        first_name: Option<String>,
        last_name: Option<String>,
        /// The consent line, for a customer whose note is known to be empty.
        add_note: Option<String>,
    },
    Create(CustomerDraft),
}

impl Plan {
    pub fn outcome(&self) -> DeliveryOutcome {
        match self {
            Plan::Adopt { .. } | Plan::Create(_) => DeliveryOutcome::Created,
            Plan::Link { .. } => DeliveryOutcome::Linked,
            Plan::Complete { .. } => DeliveryOutcome::Updated,
        }
    }
}

/// Decides the plan. Pure, so that every policy can be tested without a Clover.
pub fn plan_delivery(
    delivery: &QueuedDelivery,
    found: &[ExistingCustomer],
    policy: DuplicatePolicy,
) -> Plan {
    if let Some(own) = found.iter().find(|c| created_by(c, delivery)) {
        return Plan::Adopt {
            customer_id: own.id.clone(),
        };
    }
    let existing = found.first().filter(|_| policy != DuplicatePolicy::Create);
    match (existing, policy) {
        (Some(customer), DuplicatePolicy::Update) => complete(customer, delivery),
        // Link only: whoever types an address has not proven it is theirs, so under
        // `skip` nothing of theirs reaches an existing customer, consent included (it is
        // kept in this service's record of the submission).
        (Some(customer), _) => Plan::Link {
            customer_id: customer.id.clone(),
            add_note: None,
        },
        (None, _) => Plan::Create(draft(delivery)),
    }
}

/// The consent line for an existing customer being updated, only if its note was read
/// and is empty:
/// Clover may replace a whole note through its metadata endpoint (it does not say), and a
/// merchant's note must never be lost. Otherwise the consent stays in this service's own
/// record of the submission.
fn note_for(customer: &ExistingCustomer, delivery: &QueuedDelivery) -> Option<String> {
    (customer.metadata_read && customer.note.is_none()).then(|| consent_line(delivery))
}

fn complete(customer: &ExistingCustomer, delivery: &QueuedDelivery) -> Plan {
    let add_phone = delivery
        .phone
        .clone()
        .filter(|phone| !customer.phones.iter().any(|known| same_phone(known, phone)));
    let first_name = delivery
        .first_name
        .clone()
        .filter(|_| customer.first_name.is_none());
    let last_name = delivery
        .last_name
        .clone()
        .filter(|_| customer.last_name.is_none());
    let add_note = note_for(customer, delivery);
    if add_phone.is_none() && first_name.is_none() && last_name.is_none() {
        return Plan::Link {
            customer_id: customer.id.clone(),
            add_note,
        };
    }
    Plan::Complete {
        customer_id: customer.id.clone(),
        add_phone,
        first_name,
        last_name,
        add_note,
    }
}

fn draft(delivery: &QueuedDelivery) -> CustomerDraft {
    CustomerDraft {
        first_name: delivery.first_name.clone(),
        last_name: delivery.last_name.clone(),
        email: delivery.email_as_typed().to_owned(),
        phone: delivery.phone.clone(),
        birthday: delivery.details.birthday,
        address: delivery.details.address.clone(),
        note: customer_note(delivery),
        // Also lets a lost create be recognised where the note cannot be read back.
        customer_since: delivery.received_at_ms,
    }
}

fn created_by(customer: &ExistingCustomer, delivery: &QueuedDelivery) -> bool {
    let by_note = customer
        .note
        .as_deref()
        .is_some_and(|note| note.contains(&reference(delivery)));
    by_note || customer.customer_since == Some(delivery.received_at_ms)
}

/// Phone numbers match when their digits agree, allowing one side to carry a country
/// code the other lacks (`+1 555 123 4567` and `5551234567`).
fn same_phone(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 7 && long.ends_with(&short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::consent_note;
    use crate::delivery::note::tests::delivery;

    fn existing(id: &str) -> ExistingCustomer {
        ExistingCustomer {
            id: id.into(),
            first_name: Some("Ada".into()),
            last_name: None,
            emails: vec!["ada@example.com".into()],
            phones: vec!["+1 (555) 123-4567".into()],
            note: Some("Prefers oat milk.".into()),
            metadata_read: true,
            customer_since: Some(1),
        }
    }

    #[test]
    fn nobody_found_means_create_with_the_consent_note() {
        let plan = plan_delivery(&delivery(), &[], DuplicatePolicy::Update);
        let Plan::Create(draft) = plan else {
            panic!("expected a create, got {plan:?}")
        };
        assert_eq!(draft.customer_since, 1_763_800_000_000);
        assert!(draft.note.contains("Marketing consent: yes (unverified: "));
        assert!(
            draft
                .note
                .contains("ref 0b0e5d3c-7f41-4a8e-9a36-5c2f8d0f1a11")
        );
        assert!(draft.note.len() <= 2000);
    }

    #[test]
    fn update_fills_only_what_is_missing() {
        let plan = plan_delivery(&delivery(), &[existing("C1")], DuplicatePolicy::Update);
        assert_eq!(
            plan,
            Plan::Complete {
                customer_id: "C1".into(),
                add_phone: None,
                first_name: None,
                last_name: Some("Lovelace".into()),
                add_note: None,
            }
        );
    }

    #[test]
    fn update_with_nothing_to_add_links() {
        let mut customer = existing("C1");
        customer.last_name = Some("Byron".into());
        let plan = plan_delivery(&delivery(), &[customer], DuplicatePolicy::Update);
        assert_eq!(
            plan,
            Plan::Link {
                customer_id: "C1".into(),
                add_note: None,
            }
        );
    }

    #[test]
    fn skip_links_and_create_creates() {
        let found = [existing("C1")];
        assert_eq!(
            plan_delivery(&delivery(), &found, DuplicatePolicy::Skip),
            Plan::Link {
                customer_id: "C1".into(),
                add_note: None,
            }
        );
        assert!(matches!(
            plan_delivery(&delivery(), &found, DuplicatePolicy::Create),
            Plan::Create(_)
        ));
    }

    #[test]
    fn a_customer_carrying_our_reference_is_adopted_under_every_policy() {
        let mut ours = existing("MINE");
        ours.note = Some(consent_note(&delivery()));
        for policy in [
            DuplicatePolicy::Update,
            DuplicatePolicy::Skip,
            DuplicatePolicy::Create,
        ] {
            let plan = plan_delivery(&delivery(), &[existing("C1"), ours.clone()], policy);
            assert_eq!(
                plan,
                Plan::Adopt {
                    customer_id: "MINE".into()
                }
            );
        }
    }

    #[test]
    fn an_existing_customer_without_a_note_is_given_the_consent_line_without_our_reference() {
        let mut customer = existing("C1");
        customer.note = None;
        let plan = plan_delivery(
            &delivery(),
            std::slice::from_ref(&customer),
            DuplicatePolicy::Update,
        );
        let (Plan::Link { add_note, .. } | Plan::Complete { add_note, .. }) = plan else {
            panic!("expected a link or completion, got {plan:?}")
        };
        let note = add_note.expect("a consent line");
        assert!(
            note.contains("Marketing consent: yes (unverified: "),
            "{note}"
        );
        assert!(note.contains("(\"Send me news.\")"), "{note}");
        assert!(!note.contains("ref "), "{note}");
        // Under `skip` nothing reaches the customer, the consent line neither.
        assert!(matches!(
            plan_delivery(
                &delivery(),
                std::slice::from_ref(&customer),
                DuplicatePolicy::Skip
            ),
            Plan::Link { add_note: None, .. }
        ));
        // Given the line, it is not taken for a customer this service created.
        customer.note = Some(consent_line(&delivery()));
        assert!(matches!(
            plan_delivery(&delivery(), &[customer], DuplicatePolicy::Update),
            Plan::Link { add_note: None, .. } | Plan::Complete { add_note: None, .. }
        ));
    }

    #[test]
    fn the_consent_line_says_the_address_was_not_proven() {
        let line = consent_line(&delivery());
        assert!(
            line.contains(
                "Marketing consent: yes (unverified: whoever typed this email address did not \
                 prove it is theirs) (\"Send me news.\")."
            ),
            "{line}"
        );
        let Plan::Create(draft) = plan_delivery(&delivery(), &[], DuplicatePolicy::Skip) else {
            panic!("expected a create")
        };
        assert!(draft.note.contains(&line), "{}", draft.note);
    }

    #[test]
    fn a_note_that_was_not_read_is_never_written() {
        let mut customer = existing("C1");
        customer.note = None;
        customer.metadata_read = false;
        assert!(matches!(
            plan_delivery(&delivery(), &[customer], DuplicatePolicy::Update),
            Plan::Link { add_note: None, .. } | Plan::Complete { add_note: None, .. }
        ));
    }

    #[test]
    fn a_new_customer_gets_the_address_as_typed() {
        let mut delivery = delivery();
        delivery.details.email_as_typed = Some("Ada@Example.com".into());
        let Plan::Create(draft) = plan_delivery(&delivery, &[], DuplicatePolicy::Skip) else {
            panic!("expected a create")
        };
        assert_eq!(draft.email, "Ada@Example.com");
    }

    #[test]
    fn phones_match_with_or_without_a_country_code() {
        assert!(same_phone("+1 555 123 4567", "5551234567"));
        assert!(!same_phone("5551234567", "5551234568"));
        assert!(!same_phone("4567", "5551234567"));
    }
}
