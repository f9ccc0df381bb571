//! A message for each new signup, when the merchant asks for it
//! (`NOTIFY_EACH_SIGNUP=true`): the name and a masked email, the whole address only
//! with `NOTIFY_FULL_EMAIL=true`. Sent beside the visitor's answer, never before it.

use std::sync::Arc;

use maud::html;

use super::{Channels, Message};
use crate::domain::mask_email;

pub struct SignupNotices {
    pub channels: Arc<Channels>,
    /// `MERCHANT_NAME`, or the service's name, in every subject.
    pub shop: String,
    /// `NOTIFY_FULL_EMAIL`
    pub full_email: bool,
}

/// What a notice tells of one signup.
pub struct NewSignupNotice<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub email: &'a str,
    pub source: &'a str,
    pub marketing_consent: bool,
}

impl SignupNotices {
    /// Sends the notice in the background: the visitor's answer does not wait for it, and
    /// a channel that is down loses this notice only (the signup is stored).
    pub fn tell(self: &Arc<Self>, signup: &NewSignupNotice<'_>) {
        let message = self.message(signup);
        let notices = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = notices.channels.send(&message).await {
                tracing::warn!(%error, "a new-signup notice was not sent");
            }
        });
    }

    fn message(&self, signup: &NewSignupNotice<'_>) -> Message {
        let name = [signup.first_name, signup.last_name]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name.is_empty() {
            "Someone".to_owned()
        } else {
            name
        };
        let email = if self.full_email {
            signup.email.to_owned()
        } else {
            mask_email(signup.email)
        };
        let consent = if signup.marketing_consent {
            "yes"
        } else {
            "no"
        };
        let line = format!(
            "{name} ({email}) signed up through the {}. Agreed to marketing: {consent}.",
            signup.source
        );
        Message {
            subject: format!("[{}] New signup: {name}", self.shop),
            text: format!("{line}\n"),
            html: html! { p { (line) } }.into_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notices(full_email: bool) -> SignupNotices {
        SignupNotices {
            channels: Arc::new(Channels::none()),
            shop: "Shop".into(),
            full_email,
        }
    }

    const ADA: NewSignupNotice<'static> = NewSignupNotice {
        first_name: Some("Ada"),
        last_name: Some("Lovelace"),
        email: "ada@example.com",
        source: "form",
        marketing_consent: true,
    };

    #[test]
    fn a_notice_masks_the_email_unless_the_merchant_opted_in() {
        let masked = notices(false).message(&ADA);
        assert_eq!(masked.subject, "[Shop] New signup: Ada Lovelace");
        assert!(masked.text.contains("a***@example.com"));
        assert!(!masked.text.contains("ada@example.com"));
        let whole = notices(true).message(&ADA);
        assert!(whole.text.contains("(ada@example.com)"));
    }
}
