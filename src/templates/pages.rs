use maud::{Markup, html};

use super::layout::layout;

pub fn thanks_page() -> Markup {
    layout(
        "Thank you for signing up",
        html! {
            div class="card" {
                h1 { "Thank you!" }
                p class="lead" { "You're on the list. We've received your details." }
                p { a href="/" { "Back to the form" } }
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

/// A page for something that went wrong, with the request id so that support can find it.
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
