use maud::{Markup, html};

use super::layout::layout;
use crate::captcha::TURNSTILE_ORIGIN;
use crate::domain::{Field, FormErrors, FormRules, IdempotencyKey, SignupForm};

/// Everything the form needs to show itself, empty or with a visitor's input and errors.
pub struct FormView<'a> {
    pub values: &'a SignupForm,
    pub errors: &'a FormErrors,
    pub rules: &'a FormRules,
    pub consent_text: &'a str,
    /// A message above the form that is not about one field (such as a rate limit).
    pub notice: Option<&'a str>,
    /// The signed token this rendering carries.
    pub form_token: &'a str,
    /// Turnstile's site key, when the CAPTCHA is on.
    pub captcha_site_key: Option<&'a str>,
}

pub fn signup_page(view: &FormView<'_>) -> Markup {
    let title = if view.errors.is_empty() {
        "Sign up"
    } else {
        "Error: Sign up"
    };
    layout(
        title,
        html! {
            div class="card" {
                h1 { "Sign up" }
                p class="lead" { "Join our customer list. It takes less than a minute." }
                @if let Some(notice) = view.notice {
                    div class="notice" role="alert" { p { (notice) } }
                }
                @if !view.errors.is_empty() { (error_summary(view.errors)) }
                form method="post" action="/" novalidate {
                    // One id per rendered form, kept across corrections, so that a
                    // double-click stores the signup once.
                    input type="hidden" name="form_id" value=(form_id(view.values));
                    input type="hidden" name="form_token" value=(view.form_token);
                    (honeypot())
                    (text_input(view, Field::FirstName, "text", "given-name", None, view.values.first_name.as_deref()))
                    (text_input(view, Field::LastName, "text", "family-name", None, view.values.last_name.as_deref()))
                    (text_input(view, Field::Email, "email", "email", Some("email"), view.values.email.as_deref()))
                    (text_input(view, Field::Phone, "tel", "tel", Some("tel"), view.values.phone.as_deref()))
                    (consent_checkbox(view))
                    @if let Some(site_key) = view.captcha_site_key {
                        div class="field cf-turnstile" data-sitekey=(site_key) {}
                        script src={ (TURNSTILE_ORIGIN) "/turnstile/v0/api.js" } async defer {}
                    }
                    button type="submit" class="button" { "Sign up" }
                }
            }
        },
    )
}

/// A field bots fill and people never meet: moved off-screen (not `type="hidden"`, which
/// bots skip), hidden from screen readers, out of the tab order, and with autofill off so
/// password managers leave it alone.
fn honeypot() -> Markup {
    html! {
        div class="hp" aria-hidden="true" {
            label for="website" { "Leave this field empty" }
            input type="text" id="website" name="website" value="" tabindex="-1" autocomplete="off";
        }
    }
}

fn form_id(values: &SignupForm) -> String {
    values
        .form_id
        .as_deref()
        .and_then(IdempotencyKey::parse)
        .unwrap_or_else(IdempotencyKey::random)
        .as_ref()
        .to_owned()
}

/// The list of problems at the top, each linking to its field. `autofocus` moves focus
/// (and a screen reader) straight to it when the page comes back with errors.
fn error_summary(errors: &FormErrors) -> Markup {
    html! {
        div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus {
            h2 id="error-summary-title" { "There is a problem" }
            ul {
                @for (field, messages) in errors.iter() {
                    @for message in messages {
                        li { a href={ "#" (field.name()) } { (message) } }
                    }
                }
            }
        }
    }
}

fn text_input(
    view: &FormView<'_>,
    field: Field,
    input_type: &str,
    autocomplete: &str,
    inputmode: Option<&str>,
    value: Option<&str>,
) -> Markup {
    let name = field.name();
    let messages = view.errors.for_field(field);
    let error_id = format!("{name}-error");
    let required = view.rules.is_required(field);
    html! {
        div class={ "field" @if !messages.is_empty() { " field-invalid" } } {
            label for=(name) {
                (field.label())
                @if !required { span class="optional" { " (optional)" } }
            }
            @if !messages.is_empty() {
                p class="field-error" id=(error_id) {
                    span class="visually-hidden" { "Error: " }
                    (messages.join(" "))
                }
            }
            input type=(input_type) id=(name) name=(name) value=[value]
                autocomplete=(autocomplete) inputmode=[inputmode]
                required[required]
                aria-invalid=[(!messages.is_empty()).then_some("true")]
                aria-describedby=[(!messages.is_empty()).then_some(error_id.as_str())];
        }
    }
}

fn consent_checkbox(view: &FormView<'_>) -> Markup {
    let field = Field::MarketingConsent;
    let checked = matches!(
        &view.values.marketing_consent,
        Some(answer) if answer.is_yes()
    );
    let messages = view.errors.for_field(field);
    html! {
        div class="field field-checkbox" {
            @if !messages.is_empty() {
                p class="field-error" id="marketing_consent-error" { (messages.join(" ")) }
            }
            input type="checkbox" id=(field.name()) name=(field.name()) value="on" checked[checked];
            label for=(field.name()) { (view.consent_text) }
        }
    }
}
