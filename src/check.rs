//! `clover-signup check`: what an operator runs once after setting the environment. It
//! reads the configuration as the server would, then tells line by line what works, what
//! does not and how to fix it, storing nothing: it may run beside a serving instance, and
//! an OAuth refresh here would spend the single-use refresh token the server holds.

use std::fmt::Write as _;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::clover::vault::{CredentialKind, StoredCredential, env_token_digest};
use crate::clover::{
    Access, CloverClient, CloverError, MerchantId, MissingPermission, StaticToken, Verification,
};
use crate::configuration::{CloverAuthSettings, Settings};
use crate::storage::SecretCipher;
use crate::storage::inspection::{Inspection, SchemaState, inspect};

/// Refresh tokens this close to their end are worth a reconnect now.
const REFRESH_WARNING_DAYS: i64 = 14;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Works,
    /// Something needed does not work.
    Fails,
    /// Could not be checked from here; not a failure.
    NotChecked,
}

/// One line of the report, with the one-line fix of a failure.
#[derive(Debug, Clone)]
pub struct Line {
    pub outcome: Outcome,
    pub subject: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

/// Every line, in the order checked.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    fn works(&mut self, subject: &'static str, detail: impl Into<String>) {
        self.push(Outcome::Works, subject, detail.into(), None);
    }

    fn fails(&mut self, subject: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(Outcome::Fails, subject, detail.into(), Some(fix.into()));
    }

    fn not_checked(&mut self, subject: &'static str, detail: impl Into<String>) {
        self.push(Outcome::NotChecked, subject, detail.into(), None);
    }

    fn push(
        &mut self,
        outcome: Outcome,
        subject: &'static str,
        detail: String,
        fix: Option<String>,
    ) {
        self.lines.push(Line {
            outcome,
            subject,
            detail,
            fix,
        });
    }

    /// Whether everything needed works.
    pub fn passed(&self) -> bool {
        self.lines.iter().all(|line| line.outcome != Outcome::Fails)
    }

    /// The report as printed: a line per check, its fix beneath a failure.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            let mark = match line.outcome {
                Outcome::Works => "ok  ",
                Outcome::Fails => "FAIL",
                Outcome::NotChecked => "--  ",
            };
            let _ = writeln!(text, "{mark} {}: {}", line.subject, line.detail);
            if let Some(fix) = &line.fix {
                let _ = writeln!(text, "     fix: {fix}");
            }
        }
        let verdict = if self.passed() {
            "Everything needed works."
        } else {
            "Something needed does not work: see the lines marked FAIL."
        };
        let _ = writeln!(text, "{verdict}");
        text
    }
}

/// Runs every check on the configuration `lookup` gives, as the server would read it.
pub async fn run(lookup: impl Fn(&str) -> Option<String>) -> Report {
    let mut report = Report::default();
    let settings = match Settings::from_lookup(lookup) {
        Ok(settings) => settings,
        Err(error) => {
            report.fails(
                "configuration",
                error.problems.join("; "),
                "set the variables named here as .env.example describes, then check again",
            );
            return report;
        }
    };
    report.works(
        "configuration",
        format!("valid ({} mode)", settings.clover.auth.mode_name()),
    );
    let inspection = check_database(&settings, &mut report).await;
    if matches!(settings.clover.auth, CloverAuthSettings::Demo) {
        report.not_checked(
            "Clover",
            "demo mode: nothing is sent to Clover (set CLOVER_AUTH=token or oauth to deliver)",
        );
        return report;
    }
    let clover = &settings.clover;
    report.works(
        "Clover hosts",
        format!(
            "{} in region {}: API {}, merchant sign-in {}",
            clover.environment.as_str(),
            clover.region.as_str(),
            clover.api_base_url,
            clover.web_base_url
        ),
    );
    let Some(access) = credential(&settings, inspection.as_ref(), &mut report) else {
        return report;
    };
    let client = match CloverClient::new(
        clover.api_base_url.clone(),
        Arc::new(StaticToken::new(Some(access.clone()))),
        clover.request_timeout,
    ) {
        Ok(client) => client,
        Err(error) => {
            report.fails(
                "Clover",
                format!("no HTTP client: {error}"),
                "report this as a bug",
            );
            return report;
        }
    };
    check_customers(&client, &access, &mut report).await;
    report
}

async fn check_database(settings: &Settings, report: &mut Report) -> Option<Inspection> {
    const SUBJECT: &str = "database";
    let location = &settings.database;
    match inspect(location).await {
        Ok(inspection) => {
            match inspection.schema {
                SchemaState::Current => {
                    report.works(SUBJECT, format!("{location} answers and is migrated"))
                }
                SchemaState::NotCreated => report.works(
                    SUBJECT,
                    format!("{location} has no data yet: the server creates it at its first start"),
                ),
                SchemaState::Behind { found, known } => report.works(
                    SUBJECT,
                    format!(
                        "{location} answers at schema {found} of {known}: the server migrates it at start"
                    ),
                ),
                SchemaState::Newer { found, known } => report.works(
                    SUBJECT,
                    format!(
                        "{location} was migrated by a newer version (schema {found}, this one knows {known}); it is still usable"
                    ),
                ),
            }
            Some(inspection)
        }
        Err(error) => {
            report.fails(
                SUBJECT,
                format!("{location} cannot be read: {error}"),
                "check DATABASE_URL, and that the database is running and reachable from here",
            );
            None
        }
    }
}

/// The credential the server would use now, reported; `None` when there is none to check
/// with.
fn credential(
    settings: &Settings,
    inspection: Option<&Inspection>,
    report: &mut Report,
) -> Option<Access> {
    let cipher = settings
        .secret_key
        .as_ref()
        .map(SecretCipher::from_secret_key);
    // Why the stored credentials cannot be looked at, when they cannot: a token entered on
    // the admin page, or the OAuth pair, may be there all the same.
    let unreadable = match inspection.map(|i| i.schema) {
        None => Some("the database cannot be read"),
        Some(SchemaState::Behind { .. }) => Some("the database is not migrated yet"),
        Some(_) => None,
    };
    let stored = |kind| match (inspection, &cipher) {
        (Some(inspection), Some(cipher)) => inspection.credential(kind, cipher),
        _ => Ok(None),
    };
    match &settings.clover.auth {
        CloverAuthSettings::Demo => None,
        CloverAuthSettings::Token {
            merchant_id,
            api_token,
        } => {
            const SUBJECT: &str = "API token";
            // Without SECRET_KEY no entered token can be read, so none is compared.
            let digest = settings
                .secret_key
                .as_ref()
                .map(|key| env_token_digest(key, api_token.as_ref()))
                .unwrap_or_default();
            let entered = match stored(CredentialKind::ApiToken) {
                Ok(stored) => stored
                    .filter(|s| s.replaces_env_digest.as_deref() == Some(digest.as_str()))
                    .and_then(|s| {
                        Some(Access {
                            merchant_id: MerchantId::parse(&s.merchant_id).ok()?,
                            token: s.access_token,
                        })
                    }),
                Err(error) => {
                    report.fails(
                        SUBJECT,
                        format!("the token entered on the admin page cannot be read: {error}"),
                        "set SECRET_KEY to the key the server uses, or enter the token again on the admin page",
                    );
                    return None;
                }
            };
            let from_env = merchant_id
                .clone()
                .zip(api_token.clone())
                .map(|(merchant_id, token)| Access { merchant_id, token });
            let (access, whence) = match (entered, from_env, unreadable) {
                (Some(access), _, _) => (access, "entered on the admin page".to_owned()),
                (None, Some(access), None) => (access, "from CLOVER_API_TOKEN".to_owned()),
                (None, Some(access), Some(why)) => (
                    access,
                    format!(
                        "from CLOVER_API_TOKEN ({why}, so a token entered on the admin page, \
                         which the server would use instead, was not looked for)"
                    ),
                ),
                (None, None, Some(why)) => {
                    report.not_checked(
                        SUBJECT,
                        format!("{why}: a token entered on the admin page cannot be looked for"),
                    );
                    return None;
                }
                (None, None, None) => {
                    report.fails(
                        SUBJECT,
                        "none set",
                        "set CLOVER_MERCHANT_ID and CLOVER_API_TOKEN, or enter them on the admin page",
                    );
                    return None;
                }
            };
            report.works(
                SUBJECT,
                format!("{whence}, for merchant {}", access.merchant_id),
            );
            Some(access)
        }
        CloverAuthSettings::OAuth(_) => {
            const SUBJECT: &str = "OAuth connection";
            if let Some(why) = unreadable {
                report.not_checked(
                    SUBJECT,
                    format!("{why}: the stored connection cannot be read"),
                );
                return None;
            }
            let pair = match stored(CredentialKind::OAuth) {
                Ok(Some(pair)) => pair,
                Ok(None) => {
                    report.fails(
                        SUBJECT,
                        "not connected yet",
                        "start the server, open /admin and press Connect to Clover",
                    );
                    return None;
                }
                Err(error) => {
                    report.fails(
                        SUBJECT,
                        format!("the stored connection cannot be read: {error}"),
                        "set SECRET_KEY to the key the server uses, or connect again from /admin",
                    );
                    return None;
                }
            };
            oauth_pair(&pair, report)
        }
    }
}

/// Reports the stored pair; the access token to check customers with, if it is still
/// valid (refreshing it here would spend the server's refresh token).
fn oauth_pair(pair: &StoredCredential, report: &mut Report) -> Option<Access> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if let Some(reason) = &pair.needs_authorization {
        report.fails(
            "OAuth connection",
            format!(
                "for merchant {}, needs the merchant: {reason}",
                pair.merchant_id
            ),
            "open /admin and press Connect to Clover",
        );
        return None;
    }
    match pair.refresh_expires_at {
        Some(end) if end <= now => {
            report.fails(
                "refresh token",
                format!("expired on {}", date(end)),
                "open /admin and press Connect to Clover",
            );
            return None;
        }
        Some(end) => {
            let days = (end - now) / 86_400;
            if days < REFRESH_WARNING_DAYS {
                report.fails(
                    "refresh token",
                    format!("expires on {} (in {days} days)", date(end)),
                    "open /admin and press Connect to Clover before then",
                );
            } else {
                report.works(
                    "refresh token",
                    format!("valid until {} ({days} days)", date(end)),
                );
            }
        }
        None => report.not_checked("refresh token", "Clover gave no expiry"),
    }
    let merchant_id = MerchantId::parse(&pair.merchant_id).ok()?;
    if pair.access_expires_at.is_some_and(|end| end <= now + 5) {
        report.works(
            "OAuth connection",
            format!("for merchant {merchant_id}; its access token has expired"),
        );
        report.not_checked(
            "customers",
            "the access token has expired and refreshing it here would spend the server's \
             single-use refresh token: the server refreshes it, then run the check again",
        );
        return None;
    }
    report.works(
        "OAuth connection",
        format!("for merchant {merchant_id}, stored"),
    );
    Some(Access {
        merchant_id,
        token: pair.access_token.clone(),
    })
}

async fn check_customers(client: &CloverClient, access: &Access, report: &mut Report) {
    match client.verify(access).await {
        Ok(verification) => report_verified(&verification, access, report),
        Err(CloverError::Unauthorized) => report.fails(
            "token accepted",
            format!(
                "Clover refused the token for merchant {} (401): a wrong token or merchant id, \
                 or no Customers read permission",
                access.merchant_id
            ),
            "give the token (or the app) Customers read and write for this merchant",
        ),
        Err(CloverError::MissingPermission(MissingPermission::ReadEmailAddresses)) => {
            report.works("token accepted", "Clover accepts it and it can read customers");
            report.fails(
                "customers' email addresses",
                "customers come back without their email addresses: duplicates could not be detected",
                "grant read access to customers' email addresses (a field-level permission in Europe)",
            );
        }
        Err(error) => report.fails(
            "token accepted",
            format!("could not be checked: {error}"),
            "check CLOVER_ENVIRONMENT, CLOVER_REGION (or CLOVER_API_BASE_URL) and this machine's way out to Clover",
        ),
    }
}

fn report_verified(verification: &Verification, access: &Access, report: &mut Report) {
    let merchant = match &verification.merchant_name {
        Some(name) => format!("{name} ({})", access.merchant_id),
        None => access.merchant_id.to_string(),
    };
    report.works(
        "token accepted",
        format!("Clover accepts it for merchant {merchant} and it can read customers"),
    );
    match verification.email_addresses_readable {
        Some(_) => report.works(
            "customers' email addresses",
            "readable, so existing customers are recognised",
        ),
        None => report.not_checked(
            "customers' email addresses",
            "the merchant has no customers yet to tell by",
        ),
    }
    report.not_checked(
        "customers writable",
        "Clover offers no test that creates nothing; the admin page reports a missing \
         Customers write permission at the first signup",
    );
    match &verification.filter_fields {
        Some(fields) if fields.iter().any(|f| f == "emailAddress") => report.works(
            "search by email",
            "Clover lists emailAddress among its filters",
        ),
        Some(fields) => report.fails(
            "search by email",
            format!(
                "Clover does not list emailAddress among its filters ({})",
                fields.join(", ")
            ),
            "ask Clover's developer support: without it, existing customers cannot be found",
        ),
        None => report.not_checked(
            "search by email",
            "Clover did not say which fields it filters on",
        ),
    }
}

fn date(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .map(|moment| moment.date().to_string())
        .unwrap_or_else(|| unix_seconds.to_string())
}
