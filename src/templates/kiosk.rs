//! The counter tablet's pages: the form made for a shared screen, the thank-you screen
//! that hands over to the next customer, and the refusal an unpaired tablet gets. Large
//! touch targets, the language switcher at the top, nothing a browser would keep of one
//! customer for the next; each page goes back to an empty form by itself, with
//! JavaScript (`kiosk.js`) or, without it, by a refresh.

use std::sync::LazyLock;
use std::time::Duration;

use maud::{DOCTYPE, Markup, html};

use super::layout::{PageContext, StaticAsset, brand_mark, language_switcher, visitor_head};
use super::signup::{FormView, form_inputs, form_title, heading_and_intro, notice_and_errors};

/// Where every tablet page leads back to: an empty form in the merchant's language.
pub const KIOSK_HOME: &str = "/kiosk";

/// Sends the tablet back to an empty form after a while, the wait starting again with
/// each touch or key where the page asks for that.
pub static KIOSK_SCRIPT: LazyLock<StaticAsset> = LazyLock::new(|| {
    StaticAsset::new(
        include_str!("../../static/kiosk.js"),
        "text/javascript; charset=utf-8",
    )
});

/// When a page goes back to the empty form by itself.
#[derive(Debug, Clone, Copy)]
struct Reset {
    after: Duration,
    /// Every touch or key starts the wait again (a form being filled in).
    while_idle: bool,
}

fn kiosk_layout(
    context: &PageContext<'_>,
    title: &str,
    reset: Option<Reset>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(context.language.tag()) {
            head {
                (visitor_head(context, title))
                @if let Some(reset) = reset {
                    script src=(KIOSK_SCRIPT.href("kiosk.js")) defer
                        data-reset-after=(reset.after.as_secs()) data-reset-to=(KIOSK_HOME)
                        data-while-idle=(reset.while_idle) {}
                    // Without JavaScript the page is simply fetched again, empty.
                    noscript {
                        meta http-equiv="refresh" content={ (reset.after.as_secs()) ";url=" (KIOSK_HOME) };
                    }
                }
            }
            body class="kiosk" {
                header class="kiosk-top" {
                    (brand_mark(context.branding, "brand"))
                    (language_switcher(context))
                }
                main class="page" { (body) }
            }
        }
    }
}

/// The form on a tablet: no autofill, inputs named anew at every rendering, cleared
/// after `idle` without a touch.
pub fn kiosk_form_page(view: &FormView<'_>, idle: Duration) -> Markup {
    let context = &view.context;
    let heading = form_title(context);
    let reset = Reset {
        after: idle,
        while_idle: true,
    };
    kiosk_layout(
        context,
        &heading,
        Some(reset),
        html! {
            div class="card" {
                (heading_and_intro(context, &heading))
                (notice_and_errors(view))
                form class="signup-form" method="post" action=(context.localized(KIOSK_HOME))
                    autocomplete="off" novalidate {
                    (form_inputs(view))
                    button type="submit" class="button" { (view.t("submit")) }
                }
            }
        },
    )
}

/// After a signup: thanks, then a fresh form for the next customer after `wait`.
pub fn kiosk_thanks_page(context: &PageContext<'_>, wait: Duration) -> Markup {
    let title = context.t("kiosk-thanks-title");
    let reset = Reset {
        after: wait,
        while_idle: false,
    };
    kiosk_layout(
        context,
        &title,
        Some(reset),
        html! {
            div class="card kiosk-thanks" role="status" {
                h1 { (title) }
                p class="lead" { (context.t("kiosk-thanks-lead")) }
                p { a class="button" href=(KIOSK_HOME) { (context.t("kiosk-next")) } }
            }
        },
    )
}

/// A tablet that is not (or no longer) paired: a customer may be holding it.
pub fn kiosk_refused_page(context: &PageContext<'_>, was_paired: bool) -> Markup {
    let (title, message) = if was_paired {
        ("kiosk-unpaired-title", "kiosk-unpaired-message")
    } else {
        ("kiosk-not-paired-title", "kiosk-not-paired-message")
    };
    let title = context.t(title);
    kiosk_layout(
        context,
        &title,
        None,
        html! {
            div class="card" {
                h1 { (title) }
                p { (context.t(message)) }
            }
        },
    )
}
