//! The words of each email to a visitor, in their language, plain text and HTML, with
//! what every one carries: the link to the person's consent page, the one-click
//! unsubscribe headers (RFC 8058) and the merchant's postal address (CAN-SPAM).

use maud::{Markup, html};

use super::{MailKind, VisitorMail};
use crate::configuration::WelcomeEmail;
use crate::consent::{ConsentChannel, ConsentLinks};
use crate::i18n::{Arg, Language};

/// An email ready for the SMTP server.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `List-Unsubscribe`: the one-click address, in angle brackets.
    pub list_unsubscribe: String,
}

/// What every email needs of the merchant's settings.
pub struct Composer {
    pub links: ConsentLinks,
    pub merchant_name: Option<String>,
    /// `MERCHANT_POSTAL_ADDRESS`
    pub postal_address: String,
    /// `WELCOME_EMAIL`'s words, when on.
    pub welcome: Option<WelcomeEmail>,
    /// `CONFIRMATION_DAYS`
    pub confirmation_days: u64,
}

/// What a kind of email says: its subject, its paragraphs and its button, if any.
struct Words {
    subject: String,
    paragraphs: Vec<String>,
    /// The button's label and where it leads.
    button: Option<(String, String)>,
}

impl Composer {
    /// `mail`, worded for its visitor; `now_secs` dates a confirmation link.
    pub fn compose(&self, mail: &VisitorMail, now_secs: i64) -> Composed {
        let language = Language::from_tag(&mail.language).unwrap_or_else(Language::reference);
        let Words {
            subject,
            paragraphs,
            button,
        } = match mail.kind {
            MailKind::Confirmation => self.confirmation(mail, language, now_secs),
            MailKind::Welcome => self.welcome(language),
        };
        // The pages the links open speak the email's language.
        let preferences = in_language(
            self.links
                .preferences_url(&mail.person, ConsentChannel::Email),
            language,
        );
        let footer = Footer {
            why: self.with_merchant(language, "mail-footer-why", "mail-footer-why-merchant"),
            unsubscribe: language.text("mail-footer-unsubscribe"),
            preferences: &preferences,
            postal_address: &self.postal_address,
        };
        Composed {
            text: plain_text(&paragraphs, button.as_ref(), &footer),
            html: html_body(&language, &subject, &paragraphs, button.as_ref(), &footer)
                .into_string(),
            subject,
            list_unsubscribe: format!(
                "<{}>",
                self.links
                    .one_click_url(&mail.person, ConsentChannel::Email)
            ),
        }
    }

    fn confirmation(&self, mail: &VisitorMail, language: Language, now_secs: i64) -> Words {
        let days = Arg::count(self.confirmation_days);
        let link = self
            .links
            .confirm_url(&mail.person, now_secs, mail.signup.as_deref());
        Words {
            subject: self.with_merchant(
                language,
                "mail-confirm-subject",
                "mail-confirm-subject-merchant",
            ),
            paragraphs: vec![
                language.text("mail-confirm-lead"),
                language.text_with("mail-confirm-ignore", &[("days", days)]),
            ],
            button: Some((
                language.text("mail-confirm-button"),
                in_language(link, language),
            )),
        }
    }

    /// `WELCOME_EMAIL`'s words where the merchant wrote them for this language, else ours.
    fn welcome(&self, language: Language) -> Words {
        let welcome = self.welcome.as_ref();
        let subject = welcome
            .and_then(|w| w.subject(language))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                self.with_merchant(
                    language,
                    "mail-welcome-subject",
                    "mail-welcome-subject-merchant",
                )
            });
        let text = welcome
            .and_then(|w| w.text(language))
            .map(str::to_owned)
            .unwrap_or_else(|| language.text("mail-welcome-text"));
        let paragraphs = text
            .split("\n\n")
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        Words {
            subject,
            paragraphs,
            button: None,
        }
    }

    /// The message `named` with the merchant's name when there is one, else `plain`.
    fn with_merchant(&self, language: Language, plain: &str, named: &str) -> String {
        match self.merchant_name.as_deref() {
            Some(name) => language.text_with(named, &[("merchant", Arg::Text(name))]),
            None => language.text(plain),
        }
    }
}

fn in_language(url: String, language: Language) -> String {
    format!("{url}?lang={}", language.tag())
}

struct Footer<'a> {
    why: String,
    unsubscribe: String,
    preferences: &'a str,
    postal_address: &'a str,
}

fn plain_text(
    paragraphs: &[String],
    button: Option<&(String, String)>,
    footer: &Footer<'_>,
) -> String {
    let mut text = String::new();
    for paragraph in paragraphs {
        text.push_str(paragraph);
        text.push_str("\n\n");
    }
    if let Some((label, url)) = button {
        text.push_str(&format!("{label}:\n{url}\n\n"));
    }
    text.push_str(&format!(
        "--\n{}\n{}: {}\n{}\n",
        footer.why, footer.unsubscribe, footer.preferences, footer.postal_address
    ));
    text
}

fn html_body(
    language: &Language,
    subject: &str,
    paragraphs: &[String],
    button: Option<&(String, String)>,
    footer: &Footer<'_>,
) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang=(language.tag()) {
            head { meta charset="utf-8"; title { (subject) } }
            body style="font-family: sans-serif; line-height: 1.5; color: #1a1a1a; max-width: 36rem; margin: 0 auto; padding: 1rem;" {
                @for paragraph in paragraphs { p { (paragraph) } }
                @if let Some((label, url)) = button {
                    p {
                        a href=(url) style="display: inline-block; padding: 0.75rem 1.25rem; background: #1a56db; color: #ffffff; text-decoration: none; border-radius: 0.375rem;" { (label) }
                    }
                    p style="font-size: 0.875rem; color: #555555;" { (url) }
                }
                hr style="border: none; border-top: 1px solid #dddddd; margin: 2rem 0 1rem;";
                p style="font-size: 0.875rem; color: #555555;" {
                    (footer.why) br;
                    a href=(footer.preferences) style="color: #555555;" { (footer.unsubscribe) } br;
                    (footer.postal_address)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::PersonKeys;

    fn composer() -> Composer {
        Composer {
            links: ConsentLinks::new(None, &url::Url::parse("https://s.example").unwrap()),
            merchant_name: Some("Corner Bakery".into()),
            postal_address: "1 Main St, Springfield".into(),
            welcome: None,
            confirmation_days: 7,
        }
    }

    fn mail(kind: MailKind, language: &str) -> VisitorMail {
        let person = PersonKeys::new(None).of("ana@example.com");
        VisitorMail::new(kind, person, "ana@example.com", language)
    }

    #[test]
    fn a_confirmation_carries_its_link_the_unsubscribe_link_and_the_postal_address() {
        let composed = composer().compose(&mail(MailKind::Confirmation, "fr"), 1_800_000_000);
        assert!(
            composed.subject.contains("Corner Bakery"),
            "{}",
            composed.subject
        );
        assert!(composed.text.contains("https://s.example/confirm/confirm."));
        assert!(
            composed
                .text
                .contains("https://s.example/preferences/email.")
        );
        assert!(composed.text.contains("1 Main St, Springfield"));
        assert!(composed.html.contains("lang=\"fr\""));
        assert!(composed.html.contains("https://s.example/confirm/confirm."));
        assert!(
            composed
                .list_unsubscribe
                .starts_with("<https://s.example/unsubscribe/email.")
        );
        assert!(!composed.text.contains("ana@example.com"));
    }

    #[test]
    fn a_welcome_speaks_the_merchants_words_paragraph_by_paragraph() {
        let mut composer = composer();
        composer.welcome = Some(WelcomeEmail {
            subject: vec![Some("Hello!".into()); 3],
            text: vec![Some("First <b>line</b>.\n\nSecond one.".into()); 3],
        });
        let composed = composer.compose(&mail(MailKind::Welcome, "en"), 0);
        assert_eq!(composed.subject, "Hello!");
        assert!(
            composed
                .html
                .contains("<p>First &lt;b&gt;line&lt;/b&gt;.</p><p>Second one.</p>")
        );
        assert!(
            composed
                .text
                .starts_with("First <b>line</b>.\n\nSecond one.\n\n--\n")
        );
    }
}
