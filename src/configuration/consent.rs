//! What the consent ledger keeps and what visitors are sent: `CONSENT_IP`,
//! `DOUBLE_OPT_IN`, `CONFIRMATION_DAYS`, `WELCOME_EMAIL`, `WELCOME_SUBJECT` and
//! `WELCOME_TEXT` (each also per language, `WELCOME_TEXT_FR`), and
//! `MERCHANT_POSTAL_ADDRESS`, which every email to a visitor carries.

use std::time::Duration;

use crate::consent::IpRecording;
use crate::i18n::Language;

use super::reader::{Read, Reader};

#[derive(Debug, Clone)]
pub struct ConsentSettings {
    /// `CONSENT_IP`: the visitor's address with a consent, whole, truncated, or not kept.
    pub ip: IpRecording,
    /// `DOUBLE_OPT_IN`
    pub double_opt_in: DoubleOptIn,
    /// `CONFIRMATION_DAYS`: how long a confirmation link works, and how long a signup
    /// waiting for one is kept (`DOUBLE_OPT_IN=all`).
    pub confirmation_window: Duration,
    /// `WELCOME_EMAIL` with its words, when on.
    pub welcome: Option<WelcomeEmail>,
    /// `MERCHANT_POSTAL_ADDRESS`: required once any email goes to visitors.
    pub postal_address: Option<String>,
}

impl ConsentSettings {
    /// Whether any email goes to visitors.
    pub fn emails_visitors(&self) -> bool {
        self.double_opt_in != DoubleOptIn::Off || self.welcome.is_some()
    }
}

/// `DOUBLE_OPT_IN`: what waits for the visitor to confirm their address by a link in an
/// email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DoubleOptIn {
    /// Nothing: a ticked box is consent at once.
    #[default]
    Off,
    /// The customer goes to Clover at once; marketing consent counts once confirmed.
    Marketing,
    /// Nothing goes to Clover until the visitor confirms.
    All,
}

impl std::str::FromStr for DoubleOptIn {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "off" => Ok(Self::Off),
            "marketing" => Ok(Self::Marketing),
            "all" => Ok(Self::All),
            _ => Err(()),
        }
    }
}

/// The merchant's welcome email. A language without its own words gets `WELCOME_SUBJECT`
/// and `WELCOME_TEXT`; without those, the catalogue's.
#[derive(Debug, Clone, Default)]
pub struct WelcomeEmail {
    /// By language index; `None` where the merchant wrote nothing for that language.
    pub subject: Vec<Option<String>>,
    pub text: Vec<Option<String>>,
}

impl WelcomeEmail {
    pub fn subject(&self, language: Language) -> Option<&str> {
        self.subject.get(language.index())?.as_deref()
    }

    pub fn text(&self, language: Language) -> Option<&str> {
        self.text.get(language.index())?.as_deref()
    }
}

const DEFAULT_CONFIRMATION_DAYS: u64 = 7;
/// A welcome's text is the merchant's; bounded so an email stays an email.
const WELCOME_TEXT_MAX_CHARS: usize = 5_000;

/// `mail_server` tells whether `SMTP_URL` and `MAIL_FROM` are set, and `secret_key`
/// whether `SECRET_KEY` is, which any email to visitors needs: their links are signed
/// with it.
pub(super) fn read(
    env: &mut Reader<'_>,
    mail_server: bool,
    secret_key: bool,
) -> Read<ConsentSettings> {
    let ip = env.parsed("CONSENT_IP", "one of full, truncated or off");
    let double_opt_in = env.parsed("DOUBLE_OPT_IN", "one of off, marketing or all");
    let days = env.parsed::<u64>("CONFIRMATION_DAYS", "a whole number of days, 1 or more");
    let welcome_on = env.parsed::<bool>("WELCOME_EMAIL", "true or false");
    let welcome = read_welcome(env);
    let postal_address = env
        .value("MERCHANT_POSTAL_ADDRESS")
        .map(|address| address.trim().to_owned());
    let days = match days? {
        Some(0) => return Err(env.problem("CONFIRMATION_DAYS: expected 1 or more days")),
        days => days.unwrap_or(DEFAULT_CONFIRMATION_DAYS),
    };
    let settings = ConsentSettings {
        ip: ip?.unwrap_or_default(),
        double_opt_in: double_opt_in?.unwrap_or_default(),
        confirmation_window: Duration::from_secs(days * 86_400),
        welcome: welcome_on?.unwrap_or(false).then_some(welcome?),
        postal_address: postal_address.filter(|address| !address.is_empty()),
    };
    if settings.emails_visitors() {
        let mut missing = Vec::new();
        if !mail_server {
            missing.push("SMTP_URL and MAIL_FROM, to send them through");
        }
        if !secret_key {
            missing.push("SECRET_KEY, which signs the links in them");
        }
        if settings.postal_address.is_none() {
            missing.push("MERCHANT_POSTAL_ADDRESS, which every one must carry (CAN-SPAM)");
        }
        if !missing.is_empty() {
            return Err(env.problem(format!(
                "DOUBLE_OPT_IN/WELCOME_EMAIL: emails to visitors need {}",
                missing.join("; and ")
            )));
        }
    }
    Ok(settings)
}

fn read_welcome(env: &mut Reader<'_>) -> Read<WelcomeEmail> {
    let mut welcome = WelcomeEmail::default();
    let mut problems = Ok(());
    for (name, into) in [("WELCOME_SUBJECT", 0), ("WELCOME_TEXT", 1)] {
        let shared = env.value(name);
        for language in Language::all() {
            let own = format!("{name}_{}", language.tag().to_uppercase());
            let value = env.value(&own).or_else(|| shared.clone());
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > WELCOME_TEXT_MAX_CHARS)
            {
                problems = Err(env.problem(format!(
                    "{own}: at most {WELCOME_TEXT_MAX_CHARS} characters"
                )));
            }
            let list = if into == 0 {
                &mut welcome.subject
            } else {
                &mut welcome.text
            };
            list.push(value);
        }
    }
    problems.map(|()| welcome)
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use super::DoubleOptIn;
    use crate::consent::IpRecording;
    use crate::i18n::Language;

    const MAIL: &[(&str, &str)] = &[
        (
            "SECRET_KEY",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
        ("SMTP_URL", "smtp://u:p@mail.example:587"),
        ("MAIL_FROM", "Shop <signups@shop.example>"),
        ("MERCHANT_POSTAL_ADDRESS", "1 Main St, Springfield"),
    ];

    #[test]
    fn the_address_is_kept_truncated_unless_the_merchant_says_otherwise() {
        assert_eq!(settings(&[]).unwrap().consent.ip, IpRecording::Truncated);
        let full = settings(&[("CONSENT_IP", "full")]).unwrap();
        assert_eq!(full.consent.ip, IpRecording::Full);
        let wrong = settings(&[("CONSENT_IP", "partly")])
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("CONSENT_IP"), "{wrong}");
    }

    #[test]
    fn emails_to_visitors_need_a_mail_server_and_a_postal_address() {
        let error = settings(&[("DOUBLE_OPT_IN", "marketing")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("SMTP_URL and MAIL_FROM"), "{error}");
        assert!(error.contains("MERCHANT_POSTAL_ADDRESS"), "{error}");
        let mut vars = MAIL.to_vec();
        vars.push(("DOUBLE_OPT_IN", "all"));
        let on = settings(&vars).unwrap().consent;
        assert_eq!(on.double_opt_in, DoubleOptIn::All);
        // An unconfirmed visitor must not change an existing customer.
        let mut vars = MAIL.to_vec();
        vars.extend([
            ("DOUBLE_OPT_IN", "marketing"),
            ("DUPLICATE_POLICY", "update"),
        ]);
        let error = settings(&vars).unwrap_err().to_string();
        assert!(
            error.contains("DUPLICATE_POLICY=update with DOUBLE_OPT_IN=marketing"),
            "{error}"
        );
        assert_eq!(on.confirmation_window.as_secs(), 7 * 86_400);
    }

    #[test]
    fn a_welcome_speaks_each_language_its_own_words_or_the_shared_ones() {
        let mut vars = MAIL.to_vec();
        vars.extend([
            ("WELCOME_EMAIL", "true"),
            ("WELCOME_SUBJECT", "Welcome!"),
            ("WELCOME_SUBJECT_FR", "Bienvenue !"),
            ("WELCOME_TEXT", "Glad you are here."),
        ]);
        let welcome = settings(&vars).unwrap().consent.welcome.unwrap();
        let fr = Language::from_tag("fr").unwrap();
        let es = Language::from_tag("es").unwrap();
        assert_eq!(welcome.subject(fr), Some("Bienvenue !"));
        assert_eq!(welcome.subject(es), Some("Welcome!"));
        assert_eq!(welcome.text(fr), Some("Glad you are here."));
        let off = settings(&[("WELCOME_SUBJECT", "ignored")]).unwrap();
        assert!(off.consent.welcome.is_none());
    }
}
