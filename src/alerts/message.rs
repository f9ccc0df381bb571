//! What an alert says: what happened, since when, how many signups wait, and the one
//! thing to do, as plain text and as HTML.

use maud::html;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::{Finding, Trouble};
use crate::admin::status::AlertWords;
use crate::admin::status::capitalised;

/// One message, the same on every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// How a message's lines are set out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A paragraph each: an alert's few sentences.
    Paragraphs,
    /// A list: the digest's figures.
    List,
}

impl Message {
    /// The same lines as plain text and as HTML, with the link to the admin page last.
    pub fn of_lines(subject: String, lines: &[String], admin_url: &str, layout: Layout) -> Self {
        let separator = if layout == Layout::List { "\n" } else { "\n\n" };
        let text = format!("{}\n\n{admin_url}\n", lines.join(separator));
        let html = html! {
            @if layout == Layout::List {
                ul { @for line in lines { li { (line) } } }
            } @else {
                @for line in lines { p { (line) } }
            }
            p { a href=(admin_url) { "Open the admin page" } }
        }
        .into_string();
        Self {
            subject,
            text,
            html,
        }
    }
}

/// The message's occasion.
#[derive(Debug, Clone, Copy)]
pub enum Occasion {
    Opened,
    Reminder,
    AllClear,
}

/// What a message is built from.
pub struct Facts<'a> {
    pub shop: &'a str,
    pub trouble: Trouble,
    /// What is wrong, in the merchant's words; `None` for an all-clear.
    pub finding: Option<&'a Finding>,
    pub occasion: Occasion,
    pub since: OffsetDateTime,
    /// Signups stored and not yet in Clover.
    pub waiting: u64,
    /// The admin page.
    pub admin_url: &'a str,
}

impl Trouble {
    fn headline(self) -> &'static str {
        match self {
            Self::Connection => "the Clover connection needs you",
            Self::FailedSignups => "signups could not be delivered to Clover",
            Self::RefreshExpiring => "the Clover connection ends soon",
            Self::CloverUnreachable => "Clover has not taken signups for a while",
            Self::SignupsWaiting => "signups wait for Clover",
            Self::SpamWave => "a wave of bots is hitting the form",
        }
    }

    fn ended(self) -> &'static str {
        match self {
            Self::Connection => "the Clover connection works again",
            Self::FailedSignups => "no failed signup waits any more",
            Self::RefreshExpiring => "the Clover connection was renewed",
            Self::CloverUnreachable => "Clover takes signups again",
            Self::SignupsWaiting => "no signup waits long any more",
            Self::SpamWave => "the wave of bots has passed",
        }
    }

    fn what_to_do(self) -> &'static str {
        match self {
            Self::Connection => {
                "Open the admin page and reconnect to Clover (or enter a working token)."
            }
            Self::FailedSignups => "Open the admin page, read why, and retry the failed signups.",
            Self::RefreshExpiring => "Open the admin page and reconnect to Clover before then.",
            Self::SignupsWaiting => "Open the admin page and read why the oldest signups wait.",
            Self::SpamWave => "Nothing is needed now; the admin page counts the bots by reason.",
            Self::CloverUnreachable => {
                "Nothing, if Clover reports an outage: signups are retried by themselves. \
                 Otherwise open the admin page and read the last error."
            }
        }
    }
}

/// The words the admin page shows for an open alert, by the ledger's key; `None` for a
/// key this version does not know (one a newer version wrote).
pub fn alert_words(key: &str) -> Option<AlertWords> {
    let trouble = Trouble::ALL.into_iter().find(|t| t.key() == key)?;
    Some(AlertWords {
        headline: trouble.headline(),
        what_to_do: trouble.what_to_do(),
    })
}

pub fn compose(facts: &Facts<'_>) -> Message {
    let headline = facts.trouble.headline();
    let since = facts.since.format(&Rfc2822).unwrap_or_default();
    let (subject, lines) = match (facts.occasion, facts.finding) {
        (Occasion::AllClear, _) | (_, None) => (
            format!("[{}] All clear: {}", facts.shop, facts.trouble.ended()),
            vec![
                format!("All clear: {}.", facts.trouble.ended()),
                format!("It had lasted since {since}."),
                format!("Signups waiting for Clover: {}.", facts.waiting),
            ],
        ),
        (occasion, Some(finding)) => {
            let prefix = match occasion {
                Occasion::Reminder => "Still: ",
                _ => "",
            };
            (
                format!("[{}] {prefix}{}", facts.shop, capitalised(headline)),
                vec![
                    finding.detail.clone(),
                    format!("Since {since}."),
                    format!(
                        "Signups waiting for Clover: {}. None is lost; they are delivered once this is fixed.",
                        facts.waiting
                    ),
                    facts.trouble.what_to_do().to_owned(),
                ],
            )
        }
    };
    Message::of_lines(subject, &lines, facts.admin_url, Layout::Paragraphs)
}

/// What `clover-signup check --send-test` sends on every channel.
pub fn test_message(shop: &str, admin_url: &str) -> Message {
    let line = "This is a test from clover-signup: alerts reach you here. Nothing needs you.";
    Message {
        subject: format!("[{shop}] Test message: alerts reach you here"),
        text: format!("{line}\n\n{admin_url}\n"),
        html: html! { p { (line) } p { a href=(admin_url) { "Open the admin page" } } }
            .into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_says_what_since_when_how_many_wait_and_what_to_do() {
        let finding = Finding {
            trouble: Trouble::Connection,
            detail: "Clover refused the refresh token: reconnect.".into(),
        };
        let message = compose(&Facts {
            shop: "Corner Café",
            trouble: Trouble::Connection,
            finding: Some(&finding),
            occasion: Occasion::Opened,
            since: OffsetDateTime::UNIX_EPOCH,
            waiting: 3,
            admin_url: "https://signup.example/admin",
        });
        assert_eq!(
            message.subject,
            "[Corner Café] The Clover connection needs you"
        );
        for part in [&message.text, &message.html] {
            assert!(part.contains("refused the refresh token"));
            assert!(part.contains("Thu, 01 Jan 1970 00:00:00 +0000"));
            assert!(part.contains("Signups waiting for Clover: 3."));
            assert!(part.contains("https://signup.example/admin"));
        }
    }

    #[test]
    fn every_trouble_has_words_for_the_admin_page() {
        for trouble in Trouble::ALL {
            let words = alert_words(trouble.key()).unwrap();
            assert_eq!(words.headline, trouble.headline());
        }
        assert_eq!(alert_words("no_such_trouble"), None);
    }

    #[test]
    fn an_all_clear_names_what_ended() {
        let message = compose(&Facts {
            shop: "Shop",
            trouble: Trouble::Connection,
            finding: None,
            occasion: Occasion::AllClear,
            since: OffsetDateTime::UNIX_EPOCH,
            waiting: 0,
            admin_url: "https://signup.example/admin",
        });
        assert_eq!(
            message.subject,
            "[Shop] All clear: the Clover connection works again"
        );
    }
}
