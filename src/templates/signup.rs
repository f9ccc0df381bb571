use maud::{Markup, html};

use super::layout::{PageContext, visitor_layout};
use super::messages::{Notice, error_messages, field_message};
use super::signup_fields::{field_error, field_markup};
use crate::captcha::TURNSTILE_ORIGIN;
use crate::domain::{FieldError, FormErrors, FormRules, Input, SignupForm};
use crate::i18n::Arg;

/// Everything the form needs to show itself, empty or with a visitor's input and errors.
#[derive(Clone, Copy)]
pub struct FormView<'a> {
    pub context: PageContext<'a>,
    pub values: &'a SignupForm,
    pub errors: &'a FormErrors,
    pub rules: &'a FormRules,
    /// `CONSENT_TEXT`, or `None` for the catalogue's wording.
    pub consent_text: Option<&'a str>,
    /// `SMS_CONSENT_TEXT`, or `None` for the catalogue's wording.
    pub sms_consent_text: Option<&'a str>,
    /// A message above the form that is not about one field (such as a rate limit).
    pub notice: Option<Notice>,
    /// The id of this rendered form (an `IdempotencyKey`), kept across corrections.
    pub form_id: &'a str,
    /// The signed token this rendering carries.
    pub form_token: &'a str,
    /// Turnstile's site key, when the CAPTCHA is on.
    pub captcha_site_key: Option<&'a str>,
    /// On a counter tablet: what every input's name starts with in this rendering, so
    /// that the browser remembers nothing one customer typed for the next, and no
    /// autofill.
    pub field_prefix: Option<&'a str>,
}

impl FormView<'_> {
    pub(super) fn t(&self, id: &str) -> String {
        self.context.t(id)
    }

    /// The `name` an input is posted under: its own, or prefixed on a tablet.
    pub(super) fn input_name(&self, name: &str) -> String {
        match self.field_prefix {
            Some(prefix) => format!("{prefix}-{name}"),
            None => name.to_owned(),
        }
    }

    /// The `autocomplete` token of an input: none on a tablet.
    pub(super) fn autofill(&self, token: &'static str) -> &'static str {
        if self.field_prefix.is_some() {
            "off"
        } else {
            token
        }
    }

    /// The message for `error` about `input`, as the server would give it: the script in
    /// the page shows the very same words.
    pub(super) fn message(&self, input: Input, error: FieldError) -> String {
        field_message(input, &error, self.context.language)
    }
}

/// The title of the form: the merchant's own, or the catalogue's.
pub fn form_title(context: &PageContext<'_>) -> String {
    context
        .branding
        .form_title
        .clone()
        .unwrap_or_else(|| context.t("form-title"))
}

pub fn signup_page(view: &FormView<'_>) -> Markup {
    let context = &view.context;
    let heading = form_title(context);
    let error_title = context
        .language
        .text_with("page-title-error", &[("title", Arg::Text(&heading))]);
    let title = if view.errors.is_empty() {
        &heading
    } else {
        &error_title
    };
    let action = context.form_path();
    visitor_layout(
        context,
        title,
        true,
        html! {
            div class="card" data-form-root {
                (heading_and_intro(context, &heading))
                (notice_and_errors(view))
                form class="signup-form" method="post" action=(context.localized(action)) novalidate
                    data-success=(success_url(context))
                    data-page-title-error=(context.full_title(&error_title))
                    data-msg-summary-title=(view.t("error-summary-title"))
                    data-msg-error-prefix=(view.t("error-prefix"))
                    data-msg-network=(view.t("notice-network"))
                    data-msg-server-error=(view.t("server-error-message"))
                    data-msg-sending=(view.t("sending")) {
                    (form_inputs(view))
                    @if let Some(site_key) = view.captcha_site_key {
                        div class="field cf-turnstile" data-sitekey=(site_key)
                            data-language=(context.language.tag()) {}
                        script src={ (TURNSTILE_ORIGIN) "/turnstile/v0/api.js" } async defer {}
                    }
                    button type="submit" class="button" { (view.t("submit")) }
                }
            }
        },
    )
}

/// Above a form: a notice that is about no one field (such as a rate limit), and the
/// list of errors.
pub(super) fn notice_and_errors(view: &FormView<'_>) -> Markup {
    html! {
        @if let Some(notice) = view.notice {
            div class="notice" role="alert" tabindex="-1" { p { (notice.text(view.context.language)) } }
        }
        @if !view.errors.is_empty() { (error_summary(view)) }
    }
}

/// What every form served here holds, on the page and on a tablet: its id and token,
/// where the visitor came from (`src`) or the tablet's prefix of the inputs' names, the
/// honeypot, the fields and the consent box.
pub(super) fn form_inputs(view: &FormView<'_>) -> Markup {
    html! {
        // One id per rendered form, kept across corrections, so that a double-click
        // stores the signup once.
        input type="hidden" name="form_id" value=(view.form_id);
        input type="hidden" name="form_token" value=(view.form_token);
        @if let Some(source) = view.context.source {
            input type="hidden" name="src" value=(source);
        }
        @if let Some(prefix) = view.field_prefix {
            input type="hidden" name="field_prefix" value=(prefix);
        }
        (honeypot(view))
        @for field in &view.rules.fields {
            (field_markup(view, *field))
        }
        (consent_checkbox(view))
    }
}

/// The form's heading and introduction: the merchant's own words, marked as in the
/// merchant's language, or the catalogue's in the visitor's.
pub(super) fn heading_and_intro(context: &PageContext<'_>, heading: &str) -> Markup {
    let merchant_lang = |own: bool| own.then(|| context.merchant_lang()).flatten();
    let branding = context.branding;
    let intro = match (&branding.form_intro, &branding.merchant_name) {
        (Some(intro), _) => intro.clone(),
        (None, Some(name)) => context
            .language
            .text_with("form-intro-merchant", &[("merchant", Arg::Text(name))]),
        (None, None) => context.t("form-intro"),
    };
    html! {
        h1 lang=[merchant_lang(branding.form_title.is_some())] { (heading) }
        p class="lead" lang=[merchant_lang(branding.form_intro.is_some())] { (intro) }
    }
}

/// Where a visitor goes once the signup is stored; the server redirects there and the
/// script in the page, which sends the form itself, goes there too.
pub fn success_url(context: &PageContext<'_>) -> String {
    match (&context.branding.success_redirect_url, context.embed) {
        (_, true) => context.localized("/embed/thanks"),
        (Some(url), false) => url.to_string(),
        (None, false) => context.localized("/thanks"),
    }
}

/// A field bots fill and people never meet: moved off-screen (not `type="hidden"`, which
/// bots skip), hidden from screen readers, out of the tab order, and with autofill off so
/// password managers leave it alone.
fn honeypot(view: &FormView<'_>) -> Markup {
    html! {
        div class="hp" aria-hidden="true" {
            label for="website" { (view.t("honeypot-label")) }
            input type="text" id="website" name="website" value="" tabindex="-1" autocomplete="off";
        }
    }
}

/// The list of problems at the top, each linking to its field. `autofocus` moves focus
/// (and a screen reader) straight to it when the page comes back with errors.
fn error_summary(view: &FormView<'_>) -> Markup {
    let language = view.context.language;
    html! {
        div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus {
            h2 id="error-summary-title" { (view.t("error-summary-title")) }
            ul {
                @for input in view.errors.inputs_in_form_order(view.rules) {
                    @for message in error_messages(view.errors, input, language) {
                        li { a href={ "#" (input.anchor()) } { (message) } }
                    }
                }
            }
        }
    }
}

fn consent_checkbox(view: &FormView<'_>) -> Markup {
    let name = Input::MarketingConsent.name();
    let checked = matches!(
        &view.values.marketing_consent,
        Some(answer) if answer.is_yes()
    );
    let messages = error_messages(view.errors, Input::MarketingConsent, view.context.language);
    let consent_lang = view.consent_text.and_then(|_| view.context.merchant_lang());
    let consent = view
        .consent_text
        .map(str::to_owned)
        .unwrap_or_else(|| view.t("consent-default"));
    html! {
        div class="field field-checkbox" {
            (field_error(view, name, &messages))
            input type="checkbox" id=(name) name=(view.input_name(name)) value="on" checked[checked]
                aria-describedby=[(!messages.is_empty()).then(|| format!("{name}-error"))];
            label for=(name) lang=[consent_lang] { (consent) }
        }
        @if let Some(privacy) = &view.context.branding.privacy_url {
            p class="privacy" { a href=(privacy.as_str()) { (view.t("privacy-link")) } }
        }
    }
}
