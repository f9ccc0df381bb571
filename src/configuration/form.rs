//! What the form asks and how it speaks: `FORM_FIELDS`, `FORM_REQUIRED`, `CONSENT_TEXT`,
//! `DEFAULT_LANGUAGE` and `FORM_MIN_FILL_SECONDS`, with the brand and the CAPTCHA the
//! pages show.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::captcha::CaptchaSettings;
use crate::domain::{Field, FormRules};
use crate::i18n::Language;

use super::brand::{self, Branding};
use super::reader::{Read, Reader};
use super::security;

/// Clover keeps at most 2,000 UTF-16 units of note; the consent wording is quoted in it,
/// beside the visitor's own note of up to 1,000.
const CONSENT_TEXT_MAX_LEN: usize = 500;

#[derive(Debug, Clone)]
pub struct FormSettings {
    /// `FORM_FIELDS` and `FORM_REQUIRED`
    pub rules: FormRules,
    /// `CONSENT_TEXT`; without it, the catalogue's wording in the visitor's language.
    pub consent_text: Option<String>,
    /// `SMS_CONSENT_TEXT`: the words of the text-message box (`sms_consent` in
    /// `FORM_FIELDS`); without it, the catalogue's, naming the merchant.
    pub sms_consent_text: Option<String>,
    /// How the pages look and who they speak for.
    pub branding: Branding,
    /// `DEFAULT_LANGUAGE`: for visitors whose browser asks for none we speak.
    pub default_language: Language,
    /// `FORM_MIN_FILL_SECONDS`
    pub min_fill: Duration,
    /// `TURNSTILE_SITE_KEY` and `TURNSTILE_SECRET_KEY`, when both are set.
    pub captcha: Option<CaptchaSettings>,
    /// Where the embedded pages send their messages (the height, a signup complete): the
    /// origins `FRAME_ANCESTORS` lists, `'self'` standing for the page's own. Never to
    /// any page at all (`*`), which would tell whoever frames the form.
    pub parent_origins: Vec<String>,
}

/// The form's settings; `frame_ancestors` is `FRAME_ANCESTORS`, read already.
pub(super) fn read(env: &mut Reader<'_>, frame_ancestors: Read<&str>) -> Read<FormSettings> {
    let rules = read_rules(env);
    let consent_text = read_consent_text(env, "CONSENT_TEXT");
    let sms_consent_text = read_consent_text(env, "SMS_CONSENT_TEXT");
    let branding = brand::read(env);
    let default_language = read_default_language(env);
    let min_fill = env.parsed::<u64>("FORM_MIN_FILL_SECONDS", "a whole number of seconds");
    let captcha = security::read_captcha(env);
    Ok(FormSettings {
        rules: rules?,
        consent_text: consent_text?,
        sms_consent_text: sms_consent_text?,
        branding: branding?,
        default_language: default_language?,
        min_fill: Duration::from_secs(min_fill?.unwrap_or(2)),
        captcha: captcha?,
        parent_origins: security::parent_origins(frame_ancestors?),
    })
}

fn read_rules(env: &mut Reader<'_>) -> Read<FormRules> {
    let shown = read_field_list(env, "FORM_FIELDS");
    let required = read_field_list(env, "FORM_REQUIRED");
    let defaults = FormRules::default();
    let fields = shown?.unwrap_or(defaults.fields);
    // The email is how a visitor is matched to an existing customer: always asked for.
    if !fields.contains(&Field::Email) {
        return Err(env.problem(
            "FORM_FIELDS: must include email, which is how a visitor is matched to a Clover \
             customer",
        ));
    }
    let mut required: BTreeSet<Field> = match required? {
        Some(list) => list.into_iter().collect(),
        None => defaults
            .required
            .into_iter()
            .filter(|f| fields.contains(f))
            .collect(),
    };
    let hidden: Vec<_> = required
        .iter()
        .filter(|f| !fields.contains(f))
        .map(|f| f.name())
        .collect();
    if !hidden.is_empty() {
        return Err(env.problem(format!(
            "FORM_REQUIRED: {} not on the form; add to FORM_FIELDS or remove from FORM_REQUIRED",
            hidden.join(", ")
        )));
    }
    if required.contains(&Field::SmsConsent) {
        return Err(env.problem(
            "FORM_REQUIRED: sms_consent cannot be required: consent is only consent if it \
             can be refused",
        ));
    }
    if fields.contains(&Field::SmsConsent) && !fields.contains(&Field::Phone) {
        return Err(env
            .problem("FORM_FIELDS: sms_consent needs phone on the form, to send the messages to"));
    }
    required.insert(Field::Email);
    Ok(FormRules { fields, required })
}

/// A comma-separated list of field names, each known and named once.
fn read_field_list(env: &mut Reader<'_>, name: &str) -> Read<Option<Vec<Field>>> {
    let Some(raw) = env.value(name) else {
        return Ok(None);
    };
    let mut fields = Vec::new();
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Field::from_name(item) {
            Some(field) if fields.contains(&field) => repeated.push(item),
            Some(field) => fields.push(field),
            None => unknown.push(item),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
        return Err(env.problem(format!(
            "{name}: unknown field(s) {}; expected a comma-separated list of {}",
            unknown.join(", "),
            known.join(", ")
        )));
    }
    if !repeated.is_empty() {
        let repeated = repeated.join(", ");
        return Err(env.problem(format!("{name}: field(s) named twice: {repeated}")));
    }
    Ok(Some(fields))
}

/// A consent box's words (`CONSENT_TEXT`, `SMS_CONSENT_TEXT`): one line, short enough
/// for Clover's note.
fn read_consent_text(env: &mut Reader<'_>, name: &str) -> Read<Option<String>> {
    let Some(text) = env.value(name) else {
        return Ok(None);
    };
    if crate::domain::clover_length(&text) > CONSENT_TEXT_MAX_LEN
        || text.chars().any(char::is_control)
    {
        return Err(env.problem(format!(
            "{name}: expected one line of at most {CONSENT_TEXT_MAX_LEN} characters"
        )));
    }
    Ok(Some(text))
}

fn read_default_language(env: &mut Reader<'_>) -> Read<Language> {
    let known: Vec<_> = Language::all().map(Language::tag).collect();
    let expected = format!("one of {}", known.join(", "));
    let language = env.read("DEFAULT_LANGUAGE", &expected, Language::from_tag);
    Ok(language?.unwrap_or_else(Language::reference))
}
