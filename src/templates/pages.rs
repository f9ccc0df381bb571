use maud::{Markup, html};

use super::layout::{PageContext, layout, visitor_layout};
use super::messages::VisitorError;
use crate::configuration::DoubleOptIn;
use crate::i18n::Arg;

/// After a signup: in the visitor's language, with the merchant's name when there is one.
/// Under double opt-in it says to look for the confirmation email: the same words for
/// every visitor, so that the page never tells whether an address was known.
pub fn thanks_page(context: &PageContext<'_>, double_opt_in: DoubleOptIn) -> Markup {
    let title = match &context.branding.merchant_name {
        Some(name) => context
            .language
            .text_with("thanks-title-merchant", &[("merchant", Arg::Text(name))]),
        None => context.t("thanks-title"),
    };
    let form = context.form_path();
    visitor_layout(
        context,
        &title,
        false,
        html! {
            div class="card" {
                h1 { (title) }
                p class="lead" { (context.t("thanks-lead")) }
                @match double_opt_in {
                    DoubleOptIn::Off => {},
                    DoubleOptIn::Marketing => p { (context.t("thanks-check-email-if-consented")) },
                    DoubleOptIn::All => p { (context.t("thanks-check-email")) },
                }
                p { a href=(context.localized(form)) { (context.t("thanks-back")) } }
            }
        },
    )
}

/// A page for something that went wrong on a visitor's way, in their language, with the
/// request id so that support can find it.
pub fn visitor_error_page(
    context: &PageContext<'_>,
    error: VisitorError,
    request_id: Option<&str>,
) -> Markup {
    let (title_id, message_id) = error.message_ids();
    let title = context.t(title_id);
    let form = context.form_path();
    visitor_layout(
        context,
        &title,
        false,
        html! {
            div class="card" {
                h1 { (title) }
                p { (context.t(message_id)) }
                @if let Some(id) = request_id {
                    p class="muted" { (context.t("error-reference")) " " code { (id) } }
                }
                p { a class="button" href=(context.localized(form)) { (context.t("error-back")) } }
            }
        },
    )
}

/// An address that leads nowhere: say so plainly and offer the way to the form.
pub fn not_found_page(context: &PageContext<'_>) -> Markup {
    let title = context.t("not-found-title");
    visitor_layout(
        context,
        &title,
        false,
        html! {
            div class="card" {
                h1 { (title) }
                p { (context.t("not-found-message")) }
                p { a class="button" href=(context.localized("/")) { (context.t("not-found-link")) } }
            }
        },
    )
}

/// A short page that says something happened, with one link onwards.
pub fn notice_page(title: &str, message: &str, link: (&str, &str)) -> Markup {
    layout(
        title,
        html! {
            div class="card" {
                h1 { (title) }
                p { (message) }
                p { a class="button" href=(link.0) { (link.1) } }
            }
        },
    )
}

/// A page for something that went wrong on the merchant's side (admin, connecting Clover),
/// with the request id so that support can find it.
pub fn error_page(title: &str, message: &str, request_id: Option<&str>) -> Markup {
    layout(
        title,
        html! {
            div class="card" {
                h1 { (title) }
                p { (message) }
                @if let Some(id) = request_id {
                    p class="muted" { "Reference: " code { (id) } }
                }
                p { a href="/" { "Back to the form" } }
            }
        },
    )
}
