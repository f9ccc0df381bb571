//! The form's fields: a text box, the birthday's three boxes, the address's parts and
//! the note, each with its label, hint, error and the messages the script shows.

use maud::{Markup, html};

use super::messages::error_messages;
use super::signup::FormView;
use crate::consent::sms_wording;
use crate::domain::{
    Birthday, EmailAddress, Field, FieldError, Input, PersonName, PhoneNumber, PostalAddress,
    VisitorNote,
};
use crate::i18n::Arg;

pub(super) fn field_markup(view: &FormView<'_>, field: Field) -> Markup {
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
        Field::SmsConsent => sms_checkbox(view),
    }
}

/// The text-message box: never ticked unless the visitor ticked it, with its own words
/// (`SMS_CONSENT_TEXT`, or the catalogue's naming the merchant).
fn sms_checkbox(view: &FormView<'_>) -> Markup {
    let name = Input::SmsConsent.name();
    let checked = matches!(&view.values.sms_consent, Some(answer) if answer.is_yes());
    let messages = error_messages(view.errors, Input::SmsConsent, view.context.language);
    let own = view.sms_consent_text;
    let merchant = view.context.branding.merchant_name.as_deref();
    let words = sms_wording(own, view.context.language, merchant);
    html! {
        div class="field field-checkbox" {
            (field_error(view, name, &messages))
            input type="checkbox" id=(name) name=(view.input_name(name)) value="on" checked[checked]
                aria-invalid=[(!messages.is_empty()).then_some("true")]
                aria-describedby=[(!messages.is_empty()).then(|| format!("{name}-error"))];
            label for=(name) lang=[own.and_then(|_| view.context.merchant_lang())] { (words) }
        }
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
            input type=(spec.kind) id=(name) name=(view.input_name(name)) value=[spec.value]
                class=[spec.width_class]
                autocomplete=(view.autofill(spec.autocomplete)) inputmode=[spec.inputmode]
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
pub(super) fn field_error(view: &FormView<'_>, name: &str, messages: &[String]) -> Markup {
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
    // Each box's name, autocomplete token, value and width in digits; its label's
    // message id is `label-` and its name.
    let boxes = [
        ("birthday_day", "bday-day", &values.birthday_day, 2),
        ("birthday_month", "bday-month", &values.birthday_month, 2),
        ("birthday_year", "bday-year", &values.birthday_year, 4),
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
                @for (name, token, value, digits) in boxes {
                    div class="date-part" {
                        label for=(name) { (view.t(&format!("label-{name}"))) }
                        input type="text" id=(name) name=(view.input_name(name)) value=[value.as_deref()]
                            class={ "width-" (digits) }
                            inputmode="numeric" autocomplete=(view.autofill(token))
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
            textarea id="note" name=(view.input_name("note")) rows="4" autocomplete="off"
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
