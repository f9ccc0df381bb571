//! `clover-signup check`: what an operator runs once after setting the environment. It
//! reads the configuration as the server would, then tells line by line what works, what
//! does not and how to fix it, storing nothing: it may run beside a serving instance, and
//! an OAuth refresh here would spend the single-use refresh token the server holds.

mod credential;

use std::fmt::Write as _;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::alerts::{Channels, test_message};
use crate::clover::{
    Access, CloverClient, CloverError, MissingPermission, StaticToken, Verification,
};
use crate::configuration::{CloverAuthSettings, Settings};
use crate::storage::inspection::{Inspection, SchemaState, inspect};

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
/// What `check` is asked to do beyond reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// `--send-test`: send a test message on every alert channel set.
    pub send_test: bool,
}

pub async fn run(lookup: impl Fn(&str) -> Option<String>, options: CheckOptions) -> Report {
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
        format!("valid ({} mode)", settings.clover.auth.mode().as_str()),
    );
    check_alert_channels(&settings, options.send_test, &mut report).await;
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
    let Some(access) = credential::credential(&settings, inspection.as_ref(), &mut report) else {
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

/// The alert channels set, and with `--send-test`, whether a test message goes through
/// each: the one way to know before the first trouble that alerts will arrive.
async fn check_alert_channels(settings: &Settings, send_test: bool, report: &mut Report) {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let Some(channels) = Channels::from_settings(&settings.alerts, http) else {
        report.not_checked(
            "alerts",
            "no channel set: trouble shows on the admin page only (set SMTP_URL, MAIL_FROM and \
             ALERT_EMAIL, or ALERT_WEBHOOK_URL)",
        );
        return;
    };
    if !send_test {
        report.not_checked(
            "alerts",
            "channels set; run `clover-signup check --send-test` to send a test message",
        );
        return;
    }
    let shop = settings
        .form
        .branding
        .merchant_name
        .as_deref()
        .unwrap_or("clover-signup");
    let admin_url = settings
        .server
        .public_url
        .join("admin")
        .map(|url| url.to_string())
        .unwrap_or_default();
    for (channel, result) in channels.send_each(&test_message(shop, &admin_url)).await {
        match result {
            Ok(()) => report.works(channel, "a test message was taken"),
            Err(error) => report.fails(
                channel,
                error.to_string(),
                "check the address, the credentials and that this machine may reach it",
            ),
        }
    }
}
