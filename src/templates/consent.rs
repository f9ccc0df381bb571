//! The page a person reaches from the unsubscribe link in an email, in their language.

use maud::{Markup, html};

use super::layout::{PageContext, visitor_layout};
use crate::consent::{ConsentChannel, ConsentState, Standing};
use crate::i18n::Arg;

/// What the unsubscribe page says.
pub enum UnsubscribeView<'a> {
    /// The link was not one this service signed.
    Invalid,
    /// Where the person stands; `None` when no consent of theirs is kept.
    Standing {
        channel: ConsentChannel,
        standing: Option<&'a Standing>,
    },
    /// They have just withdrawn.
    Done { channel: ConsentChannel },
}

pub fn unsubscribe_page(context: &PageContext<'_>, view: UnsubscribeView<'_>) -> Markup {
    let what = |channel: ConsentChannel| match channel {
        ConsentChannel::Email => context.t("unsubscribe-channel-email"),
        ConsentChannel::Sms => context.t("unsubscribe-channel-sms"),
    };
    let with = |id: &str, channel: ConsentChannel, date: Option<&str>| {
        let what = what(channel);
        let mut args = vec![("what", Arg::Text(&what))];
        if let Some(date) = date {
            args.push(("date", Arg::Text(date)));
        }
        context.language.text_with(id, &args)
    };
    let (title, body) = match view {
        UnsubscribeView::Invalid => (
            context.t("unsubscribe-invalid-title"),
            html! { p { (context.t("unsubscribe-invalid")) } },
        ),
        UnsubscribeView::Done { channel } => (
            context.t("unsubscribe-done-title"),
            html! { p role="status" { (with("unsubscribe-done", channel, None)) } },
        ),
        UnsubscribeView::Standing { channel, standing } => {
            let body = match standing {
                Some(standing) if standing.state.allows_marketing() => {
                    let given = standing.given.as_ref();
                    let date = given.map_or(standing.since_ms, |g| g.occurred_at_ms);
                    let wording = given.and_then(|g| g.wording.as_ref());
                    html! {
                        p { (context.language.text_with("unsubscribe-agreed", &[("date", Arg::Text(&day(date)))])) }
                        @if let Some(wording) = wording {
                            blockquote lang=(wording.language) { (wording.text) }
                        }
                        p { (with("unsubscribe-question", channel, None)) }
                        form method="post" {
                            button type="submit" class="button" { (context.t("unsubscribe-button")) }
                        }
                    }
                }
                Some(standing) if standing.state == ConsentState::Withdrawn => html! {
                    p { (with("unsubscribe-already", channel, Some(&day(standing.since_ms)))) }
                },
                _ => html! {
                    p { (with("unsubscribe-nothing", channel, None)) }
                    form method="post" {
                        button type="submit" class="button" { (context.t("unsubscribe-button")) }
                    }
                },
            };
            (context.t("unsubscribe-title"), body)
        }
    };
    card_page(context, &title, body)
}

/// Whose signup a link confirms, as it was typed: the owner of the address sees what
/// they are about to confirm, and can tell a signup somebody else sent with it.
pub struct Whose {
    /// The first name and the last name's initial.
    pub name: Option<String>,
    /// The phone number's last two digits.
    pub phone_ending: Option<String>,
}

/// What the confirmation page says.
pub enum ConfirmView {
    /// The link is good: one button confirms (a link scanner that opens it confirms
    /// nothing). `whose` when the link names a signup still waiting.
    Ask { whose: Option<Whose> },
    /// Confirmed, now or before.
    Done,
    /// Older than `CONFIRMATION_DAYS`.
    Expired { days: u64 },
    /// The person unsubscribed after the link was sent: nothing was changed.
    Withdrawn,
    /// Not a link this service signed.
    Invalid,
}

pub fn confirm_page(context: &PageContext<'_>, view: ConfirmView) -> Markup {
    let (title, body) = match view {
        ConfirmView::Ask { whose } => (
            context.t("confirm-title"),
            html! {
                p { (context.t("confirm-lead")) }
                @if let Some(whose) = whose {
                    @if let Some(name) = &whose.name {
                        p { (context.language.text_with("confirm-whose", &[("name", Arg::Text(name))])) }
                    }
                    @if let Some(digits) = &whose.phone_ending {
                        p { (context.language.text_with("confirm-whose-phone", &[("digits", Arg::Text(digits))])) }
                    }
                    p { (context.t("confirm-not-yours")) }
                }
                form method="post" {
                    button type="submit" class="button" { (context.t("confirm-button")) }
                }
            },
        ),
        ConfirmView::Done => (
            context.t("confirm-done-title"),
            html! { p role="status" { (context.t("confirm-done")) } },
        ),
        ConfirmView::Expired { days } => (
            context.t("confirm-expired-title"),
            html! {
                p { (context.language.text_with("confirm-expired", &[("days", Arg::count(days))])) }
                p { a class="button" href=(context.localized("/")) { (context.t("thanks-back")) } }
            },
        ),
        ConfirmView::Withdrawn => (
            context.t("unsubscribe-title"),
            html! { p { (context.t("confirm-withdrawn")) } },
        ),
        ConfirmView::Invalid => (
            context.t("unsubscribe-invalid-title"),
            html! { p { (context.t("unsubscribe-invalid")) } },
        ),
    };
    card_page(context, &title, body)
}

/// A visitor page of one card: a heading and what it says.
fn card_page(context: &PageContext<'_>, title: &str, body: Markup) -> Markup {
    visitor_layout(
        context,
        title,
        false,
        html! {
            div class="card" {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// The day of `ms`, as YYYY-MM-DD in UTC: read the same in every language.
fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|at| at.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
