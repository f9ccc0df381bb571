//! What this service writes into a customer's note in Clover: the consent line (when,
//! where, what was answered, in which words) and, for a customer it creates, the
//! submission's reference.

use time::OffsetDateTime;
use time::macros::format_description;

use super::QueuedDelivery;

/// The reference written into the note of every customer this service creates.
pub(super) fn reference(delivery: &QueuedDelivery) -> String {
    format!("ref {}", delivery.id)
}

/// The note of a new customer: the visitor's own words first, when the form asked for
/// them, then the consent record. At most 1,000 + 2 + about 820 units (the consent line
/// with the longest wording and a tablet's longest name), well within Clover's 2,000.
pub(super) fn customer_note(delivery: &QueuedDelivery) -> String {
    match &delivery.details.note {
        Some(note) => format!("{note}\n\n{}", consent_note(delivery)),
        None => consent_note(delivery),
    }
}

/// The consent record of a customer this service creates: the consent line, then the
/// submission's reference, by which a create whose answer was lost is recognised.
pub fn consent_note(delivery: &QueuedDelivery) -> String {
    format!("{} {}", consent_line(delivery), reference(delivery))
}

/// Where and when they signed up and what they answered to the marketing question, in the
/// merchant's words. Clover ignores `marketingAllowed` from third-party apps, so this line
/// is the consent record the merchant sees in Clover. Anyone can type any address into the
/// form, so the line says the answer is unverified: the merchant must not take it for the
/// consent of the address's owner. Without the reference, so that an existing customer
/// given it is never taken for one this service created.
pub fn consent_line(delivery: &QueuedDelivery) -> String {
    let received =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(delivery.received_at_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let when = received
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let answer = if delivery.marketing_consent {
        "yes"
    } else {
        "no"
    };
    // Where: the merchant's name for the poster or tablet, when the signup has one.
    let at = delivery
        .details
        .source
        .as_ref()
        .map(|source| format!(" (signed up at: {source})"))
        .unwrap_or_default();
    format!(
        "Signed up through the web signup form on {when}{at}. Marketing consent: {answer} \
         (unverified: whoever typed this email address did not prove it is theirs) (\"{}\").",
        delivery.consent_text,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::SubmissionId;

    /// A delivery of Ada's signup, for the tests of the note and of the plan.
    pub(in crate::delivery) fn delivery() -> QueuedDelivery {
        QueuedDelivery {
            id: SubmissionId::from_stored("0b0e5d3c-7f41-4a8e-9a36-5c2f8d0f1a11".into()),
            received_at_ms: 1_763_800_000_000,
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: "ada@example.com".into(),
            phone: Some("5551234567".into()),
            marketing_consent: true,
            consent_text: "Send me news.".into(),
            attempts: 1,
            details: Default::default(),
        }
    }

    #[test]
    fn the_longest_note_fits_clovers_limit() {
        let mut delivery = delivery();
        // The longest of each in UTF-16 units: 500 of consent wording, 1,000 of note, and
        // a tablet's name of 40 characters, 80 units.
        delivery.consent_text = "😀".repeat(250);
        delivery.details.note = Some("😀".repeat(500));
        let tablet = "😀".repeat(crate::kiosk::NAME_MAX_CHARS);
        delivery.details.source = Some(crate::domain::SourceTag::kiosk(&tablet));
        let note = customer_note(&delivery);
        assert!(note.starts_with("😀😀"));
        assert!(note.ends_with(&format!("ref {}", delivery.id)));
        assert!(crate::domain::clover_length(&note) <= 2_000);
    }

    #[test]
    fn the_consent_line_names_where_the_signup_came_from() {
        let mut delivery = delivery();
        assert!(!consent_line(&delivery).contains("signed up at"));
        delivery.details.source = crate::domain::SourceTag::slug("counter");
        assert!(
            consent_line(&delivery).contains(" (signed up at: counter). "),
            "{}",
            consent_line(&delivery)
        );
        delivery.details.source = Some(crate::domain::SourceTag::kiosk("front counter"));
        assert!(consent_line(&delivery).contains("(signed up at: kiosk:front counter)"));
    }
}
