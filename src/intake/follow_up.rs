//! What follows a stored signup for the visitor: with double opt-in, a confirmation
//! email; without, the merchant's welcome, if on. The emails themselves are queued in
//! the outbox and sent, or not, by `mail`, which reads the person's consent first.

use crate::configuration::DoubleOptIn;
use crate::consent::PersonKey;
use crate::mail::{MailKind, Mailbag, VisitorMail};

pub struct FollowUp<'a> {
    /// `DOUBLE_OPT_IN`
    pub double_opt_in: DoubleOptIn,
    /// `WELCOME_EMAIL`
    pub welcome: bool,
    pub mail: &'a Mailbag,
}

impl FollowUp<'_> {
    /// Whether a consent given now counts only once confirmed.
    pub fn needs_confirmation(&self) -> bool {
        self.double_opt_in != DoubleOptIn::Off
    }

    /// The email a signup newly stored calls for, if any. With double opt-in the welcome
    /// waits for the confirmation (see `routes::confirm`): an address nobody confirmed
    /// gets at most a confirmation, whatever a bot types into the form.
    pub fn first_email(&self, consented: bool) -> Option<MailKind> {
        match self.double_opt_in {
            DoubleOptIn::Off => self.welcome.then_some(MailKind::Welcome),
            DoubleOptIn::Marketing => consented.then_some(MailKind::Confirmation),
            DoubleOptIn::All => Some(MailKind::Confirmation),
        }
    }

    /// Queues the email a signup newly stored calls for.
    pub async fn after_stored(
        &self,
        person: PersonKey,
        email: &str,
        language: &str,
        consented: bool,
    ) {
        if let Some(kind) = self.first_email(consented) {
            self.mail
                .post(VisitorMail::new(kind, person, email, language))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow_up(double_opt_in: DoubleOptIn, welcome: bool) -> FollowUp<'static> {
        static NOWHERE: std::sync::LazyLock<Mailbag> = std::sync::LazyLock::new(Mailbag::default);
        FollowUp {
            double_opt_in,
            welcome,
            mail: &NOWHERE,
        }
    }

    #[test]
    fn with_double_opt_in_the_first_email_is_always_the_confirmation() {
        let off = follow_up(DoubleOptIn::Off, true);
        assert_eq!(off.first_email(false), Some(MailKind::Welcome));
        assert_eq!(follow_up(DoubleOptIn::Off, false).first_email(true), None);
        let marketing = follow_up(DoubleOptIn::Marketing, true);
        assert_eq!(marketing.first_email(true), Some(MailKind::Confirmation));
        assert_eq!(
            marketing.first_email(false),
            None,
            "nothing to confirm, no welcome yet"
        );
        let all = follow_up(DoubleOptIn::All, false);
        assert_eq!(all.first_email(false), Some(MailKind::Confirmation));
    }
}
