use maud::{Markup, html};

use super::layout::{PageContext, visitor_layout};
use super::messages::{Notice, error_messages, field_message};
use crate::captcha::TURNSTILE_ORIGIN;
use crate::domain::{
    Birthday, EmailAddress, Field, FieldError, FormErrors, FormRules, Input, PersonName,
    PhoneNumber, PostalAddress, SignupForm, VisitorNote,
};
use crate::i18n::Arg;

/// Everything the form needs to show itself, empty or with a visitor's input and errors.
pub struct FormView<'a> {
    pub context: PageContext<'a>,
    pub values: &'a SignupForm,
    pub errors: &'a FormErrors,
    pub rules: &'a FormRules,
    /// `CONSENT_TEXT`, or `None` for the catalogue's wording.
    pub consent_text: Option<&'a str>,
    /// A message above the form that is not about one field (such as a rate limit).
    pub notice: Option<Notice>,
    /// The id of this rendered form (an `IdempotencyKey`), kept across corrections.
    pub form_id: &'a str,
    /// The signed token this rendering carries.
    pub form_token: &'a str,
    /// Turnstile's site key, when the CAPTCHA is on.
    pub captcha_site_key: Option<&'a str>,
}

impl FormView<'_> {
    fn t(&self, id: &str) -> String {
        self.context.t(id)
    }

    /// The message for `error` about `input`, as the server would give it: the script in
    /// the page shows the very same words.
    fn message(&self, input: Input, error: FieldError) -> String {
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
    let title_lang = context
        .branding
        .form_title
        .as_ref()
        .and_then(|_| context.merchant_lang());
    let intro_lang = context
        .branding
        .form_intro
        .as_ref()
        .and_then(|_| context.merchant_lang());
    let intro = match (
        &context.branding.form_intro,
        &context.branding.merchant_name,
    ) {
        (Some(intro), _) => intro.clone(),
        (None, Some(name)) => context
            .language
            .text_with("form-intro-merchant", &[("merchant", Arg::Text(name))]),
        (None, None) => view.t("form-intro"),
    };
    let action = context.form_path();
    visitor_layout(
        context,
        title,
        true,
        html! {
            div class="card" data-form-root {
                h1 lang=[title_lang] { (heading) }
                p class="lead" lang=[intro_lang] { (intro) }
                @if let Some(notice) = view.notice {
                    div class="notice" role="alert" tabindex="-1" { p { (notice.text(context.language)) } }
                }
                @if !view.errors.is_empty() { (error_summary(view)) }
                form class="signup-form" method="post" action=(context.localized(action)) novalidate
                    data-success=(success_url(context))
                    data-page-title-error=(context.full_title(&error_title))
                    data-msg-summary-title=(view.t("error-summary-title"))
                    data-msg-error-prefix=(view.t("error-prefix"))
                    data-msg-network=(view.t("notice-network"))
                    data-msg-server-error=(view.t("server-error-message"))
                    data-msg-sending=(view.t("sending")) {
                    // One id per rendered form, kept across corrections, so that a
                    // double-click stores the signup once.
                    input type="hidden" name="form_id" value=(view.form_id);
                    input type="hidden" name="form_token" value=(view.form_token);
                    (honeypot(view))
                    @for field in &view.rules.fields {
                        (field_markup(view, *field))
                    }
                    (consent_checkbox(view))
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

/// Where a visitor goes once the signup is stored; the server redirects there and the
/// script in the page, which sends the form itself, goes there too.
pub fn success_url(context: &PageContext<'_>) -> String {
    match (&context.branding.success_redirect_url, context.embed) {
        (_, true) => context.localized("/embed/thanks"),
        (Some(url), false) => url.to_string(),
        (None, false) => context.localized("/thanks"),
    }
}

fn field_markup(view: &FormView<'_>, field: Field) -> Markup {
    let values = view.values;
    let required = view.rules.is_required(field);
    match field {
        Field::FirstName => text_input(
            view,
            TextInput::new(Input::FirstName, values.first_name.as_deref(), required)
                .autocomplete("given-name")
                .max_len(PersonName::MAX_LEN),
        ),
        Field::LastName => text_input(
            view,
            TextInput::new(Input::LastName, values.last_name.as_deref(), required)
                .autocomplete("family-name")
                .max_len(PersonName::MAX_LEN),
        ),
        Field::Email => text_input(
            view,
            TextInput::new(Input::Email, values.email.as_deref(), required)
                .kind("email")
                .autocomplete("email")
                .inputmode("email")
                .max_len(EmailAddress::MAX_LEN)
                .check(
                    "email",
                    view.message(Input::Email, FieldError::InvalidEmail),
                ),
        ),
        Field::Phone => {
            let digits = FieldError::PhoneDigits {
                min: PhoneNumber::MIN_DIGITS,
                max: PhoneNumber::MAX_DIGITS,
            };
            text_input(
                view,
                TextInput::new(Input::Phone, values.phone.as_deref(), required)
                    .kind("tel")
                    .autocomplete("tel")
                    .inputmode("tel")
                    .hint(view.t("hint-phone"))
                    .check(
                        "phone",
                        view.message(Input::Phone, FieldError::InvalidPhone),
                    )
                    .extra_message(view.message(Input::Phone, digits)),
            )
        }
        Field::Birthday => birthday_group(view, required),
        Field::Address => address_group(view, required),
        Field::Note => note_area(view, required),
    }
}

/// One text box and everything around it.
struct TextInput<'a> {
    input: Input,
    value: Option<&'a str>,
    required: bool,
    kind: &'static str,
    autocomplete: &'static str,
    inputmode: Option<&'static str>,
    hint: Option<String>,
    max_len: Option<usize>,
    /// What the script checks beyond presence and length, and its message.
    check: Option<(&'static str, String)>,
    /// A second message for the check (the phone's digit count).
    extra_message: Option<String>,
    /// Narrow boxes for short values (postal codes, country codes).
    width_class: Option<&'static str>,
    /// Says "(optional)" after the label; inside a group the group's legend says it.
    optional_mark: bool,
}

impl<'a> TextInput<'a> {
    fn new(input: Input, value: Option<&'a str>, required: bool) -> Self {
        Self {
            input,
            value,
            required,
            kind: "text",
            autocomplete: "on",
            inputmode: None,
            hint: None,
            max_len: None,
            check: None,
            extra_message: None,
            width_class: None,
            optional_mark: !required,
        }
    }
    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    fn autocomplete(mut self, token: &'static str) -> Self {
        self.autocomplete = token;
        self
    }
    fn inputmode(mut self, mode: &'static str) -> Self {
        self.inputmode = Some(mode);
        self
    }
    fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }
    fn max_len(mut self, max: usize) -> Self {
        self.max_len = Some(max);
        self
    }
    fn check(mut self, kind: &'static str, message: String) -> Self {
        self.check = Some((kind, message));
        self
    }
    fn extra_message(mut self, message: String) -> Self {
        self.extra_message = Some(message);
        self
    }
    fn optional_mark(mut self, shown: bool) -> Self {
        self.optional_mark = shown;
        self
    }
    fn width(mut self, class: &'static str) -> Self {
        self.width_class = Some(class);
        self
    }
}

/// The ids an input is described by: its hint, then its error.
fn described_by(name: &str, has_hint: bool, has_error: bool) -> Option<String> {
    let ids: Vec<String> = [
        has_hint.then(|| format!("{name}-hint")),
        has_error.then(|| format!("{name}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn text_input(view: &FormView<'_>, spec: TextInput<'_>) -> Markup {
    let name = spec.input.name();
    let language = view.context.language;
    let messages = error_messages(view.errors, spec.input, language);
    let invalid = !messages.is_empty();
    let too_long = spec
        .max_len
        .map(|max| view.message(spec.input, FieldError::TooLong { max }));
    html! {
        div class={ "field" @if invalid { " field-invalid" } } {
            label for=(name) {
                (view.t(&spec.input.label_id()))
                @if spec.optional_mark { span class="optional" { " " (view.t("optional")) } }
            }
            @if let Some(hint) = &spec.hint {
                p class="hint" id={ (name) "-hint" } { (hint) }
            }
            (field_error(view, name, &messages))
            input type=(spec.kind) id=(name) name=(name) value=[spec.value]
                class=[spec.width_class]
                autocomplete=(spec.autocomplete) inputmode=[spec.inputmode]
                required[spec.required]
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[described_by(name, spec.hint.is_some(), invalid)]
                data-msg-required=(view.message(spec.input, FieldError::Required))
                data-maxlength=[spec.max_len]
                data-msg-too-long=[too_long]
                data-check=[spec.check.as_ref().map(|(kind, _)| *kind)]
                data-msg-invalid=[spec.check.as_ref().map(|(_, message)| message.as_str())]
                data-msg-extra=[spec.extra_message.as_deref()];
        }
    }
}

/// The error beside an input; its id is what the input's `aria-describedby` names.
fn field_error(view: &FormView<'_>, name: &str, messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            p class="field-error" id={ (name) "-error" } {
                span class="visually-hidden" { (view.t("error-prefix")) " " }
                (messages.join(" "))
            }
        }
    }
}

/// Day, month and year in three boxes, in that order in every language we speak.
fn birthday_group(view: &FormView<'_>, required: bool) -> Markup {
    let values = view.values;
    let language = view.context.language;
    let messages = error_messages(view.errors, Input::Birthday, language);
    let invalid = !messages.is_empty();
    let this_year = Birthday::latest_year();
    let year_error = FieldError::BirthdayYear {
        min: Birthday::EARLIEST_YEAR,
        max: this_year,
    };
    let boxes = [
        (
            "birthday_day",
            "label-birthday_day",
            "bday-day",
            values.birthday_day.as_deref(),
            2,
        ),
        (
            "birthday_month",
            "label-birthday_month",
            "bday-month",
            values.birthday_month.as_deref(),
            2,
        ),
        (
            "birthday_year",
            "label-birthday_year",
            "bday-year",
            values.birthday_year.as_deref(),
            4,
        ),
    ];
    html! {
        fieldset class={ "field field-group" @if invalid { " field-invalid" } }
            id="birthday" role="group"
            aria-describedby=[described_by("birthday", true, invalid)]
            data-check="birthday"
            data-required=(required)
            data-msg-required=(view.message(Input::Birthday, FieldError::Required))
            data-msg-numbers=(view.message(Input::Birthday, FieldError::BirthdayNumbers))
            data-msg-date=(view.message(Input::Birthday, FieldError::BirthdayDate))
            data-msg-year=(view.message(Input::Birthday, year_error))
            data-year-min=(Birthday::EARLIEST_YEAR)
            data-year-max=(this_year) {
            legend {
                (view.t("label-birthday"))
                @if !required { span class="optional" { " " (view.t("optional")) } }
            }
            p class="hint" id="birthday-hint" { (view.t("hint-birthday")) }
            (field_error(view, "birthday", &messages))
            div class="date-input" {
                @for (name, label, token, value, digits) in boxes {
                    div class="date-part" {
                        label for=(name) { (view.t(label)) }
                        input type="text" id=(name) name=(name) value=[value]
                            class={ "width-" (digits) }
                            inputmode="numeric" autocomplete=(token)
                            aria-invalid=[invalid.then_some("true")];
                    }
                }
            }
        }
    }
}

/// The address, in Clover's parts. When one part is filled the others Clover requires
/// are too; the script in the page knows this from `data-required` and `data-part`.
fn address_group(view: &FormView<'_>, required: bool) -> Markup {
    let values = view.values;
    let line = PostalAddress::LINE_MAX_LEN;
    let parts = [
        TextInput::new(Input::Address1, values.address1.as_deref(), required)
            .autocomplete("address-line1")
            .max_len(line)
            .optional_mark(false),
        TextInput::new(Input::Address2, values.address2.as_deref(), false)
            .autocomplete("address-line2")
            .max_len(line)
            .optional_mark(true),
        TextInput::new(Input::City, values.city.as_deref(), required)
            .autocomplete("address-level2")
            .max_len(line)
            .optional_mark(false),
        TextInput::new(Input::State, values.state.as_deref(), required)
            .autocomplete("address-level1")
            .max_len(line)
            .optional_mark(false),
        TextInput::new(Input::Zip, values.zip.as_deref(), required)
            .autocomplete("postal-code")
            .max_len(PostalAddress::ZIP_MAX_LEN)
            .width("width-10")
            .optional_mark(false),
        TextInput::new(Input::Country, values.country.as_deref(), required)
            .optional_mark(false)
            .autocomplete("country")
            .hint(view.t("hint-country"))
            .width("width-2")
            .check(
                "country",
                view.message(Input::Country, FieldError::InvalidCountry),
            ),
    ];
    html! {
        fieldset class="field-group" id="address" data-group="address" data-required=(required) {
            legend {
                (view.t("label-address"))
                @if !required { span class="optional" { " " (view.t("optional")) } }
            }
            @for part in parts {
                @let input = part.input;
                div data-part=(if input == Input::Address2 { "optional" } else { "required" }) {
                    (text_input(view, part))
                }
            }
        }
    }
}

fn note_area(view: &FormView<'_>, required: bool) -> Markup {
    let language = view.context.language;
    let messages = error_messages(view.errors, Input::Note, language);
    let invalid = !messages.is_empty();
    let max = VisitorNote::MAX_LEN;
    let hint = language.text_with("hint-note", &[("max", Arg::count(max))]);
    html! {
        div class={ "field" @if invalid { " field-invalid" } } {
            label for="note" {
                (view.t("label-note"))
                @if !required { span class="optional" { " " (view.t("optional")) } }
            }
            p class="hint" id="note-hint" { (hint) }
            (field_error(view, "note", &messages))
            textarea id="note" name="note" rows="4" autocomplete="off"
                required[required]
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[described_by("note", true, invalid)]
                data-msg-required=(view.message(Input::Note, FieldError::Required))
                data-maxlength=(max)
                data-msg-too-long=(view.message(Input::Note, FieldError::TooLong { max })) {
                (view.values.note.as_deref().unwrap_or(""))
            }
        }
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
            input type="checkbox" id=(name) name=(name) value="on" checked[checked]
                aria-describedby=[(!messages.is_empty()).then(|| format!("{name}-error"))];
            label for=(name) lang=[consent_lang] { (consent) }
        }
        @if let Some(privacy) = &view.context.branding.privacy_url {
            p class="privacy" { a href=(privacy.as_str()) { (view.t("privacy-link")) } }
        }
    }
}
