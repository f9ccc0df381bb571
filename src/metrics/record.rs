//! The handles observers record through, one per observer, and the label values they
//! record with. Label values are fixed words and status codes: never an address, an
//! email, a token or anything else a visitor typed. The one exception, where signups came
//! from, is the merchant's names for them, bounded in `sources.rs`.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::sources::SourceCounts;

/// Writes a label value that is one of a few fixed words.
macro_rules! label_words {
    ($type:ty) => {
        impl EncodeLabelValue for $type {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

/// What became of a signup sent to the form, the embed or the API.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum SignupOutcome {
    /// Stored with its queue row (or found stored already, sent again under its key).
    Stored,
    /// The visitor's mistakes: nothing stored.
    Invalid,
    /// Over the per-address limit.
    RateLimited,
    /// Turned away as a bot (see `bots_total` for why).
    Bot,
    CaptchaFailed,
    /// The CAPTCHA's verifier did not answer: nothing stored.
    CaptchaUnavailable,
    /// A form left open longer than its token lives, offered again.
    Expired,
    /// A served form already used for another signup, offered again fresh.
    FormUsed,
    /// The database did not store it: the visitor was asked to send it again.
    NotStored,
}

impl SignupOutcome {
    pub const ALL: [Self; 9] = [
        Self::Stored,
        Self::Invalid,
        Self::RateLimited,
        Self::Bot,
        Self::CaptchaFailed,
        Self::CaptchaUnavailable,
        Self::Expired,
        Self::FormUsed,
        Self::NotStored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Invalid => "invalid",
            Self::RateLimited => "rate_limited",
            Self::Bot => "bot",
            Self::CaptchaFailed => "captcha_failed",
            Self::CaptchaUnavailable => "captcha_unavailable",
            Self::Expired => "expired",
            Self::FormUsed => "form_used",
            Self::NotStored => "not_stored",
        }
    }
}
label_words!(SignupOutcome);

/// The door a signup came in by.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum SignupSource {
    /// The service's own page.
    Form,
    /// The form inside the merchant's iframe.
    Embed,
    /// The JSON API.
    Api,
    /// A paired counter tablet (`/kiosk`).
    Kiosk,
}

impl SignupSource {
    pub const ALL: [Self; 4] = [Self::Form, Self::Embed, Self::Api, Self::Kiosk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Embed => "embed",
            Self::Api => "api",
            Self::Kiosk => "kiosk",
        }
    }
}
label_words!(SignupSource);

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DeliveryResult {
    Created,
    /// An existing customer completed with what the signup adds.
    Updated,
    /// An existing customer left as is and linked to.
    Linked,
    /// Clover refused the customer for good: it waits for the merchant.
    Failed,
    /// Not delivered this time; the signup is tried again later.
    Retried,
}

impl DeliveryResult {
    pub const ALL: [Self; 5] = [
        Self::Created,
        Self::Updated,
        Self::Linked,
        Self::Failed,
        Self::Retried,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Linked => "linked",
            Self::Failed => "failed",
            Self::Retried => "retried",
        }
    }
}
label_words!(DeliveryResult);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignupLabels {
    outcome: SignupOutcome,
    source: SignupSource,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BotLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    outcome: DeliveryResult,
}

/// What Clover answered, as labels: `class` (`2xx`…`5xx`, or `none` when no answer came:
/// a timeout or a connection that failed) and `code`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    class: &'static str,
    code: AnswerCode,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

/// An HTTP status code, or `none` for a request that got no answer.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct AnswerCode(Option<u16>);

impl EncodeLabelValue for AnswerCode {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self.0 {
            Some(code) => std::fmt::Write::write_fmt(encoder, format_args!("{code}")),
            None => std::fmt::Write::write_str(encoder, "none"),
        }
    }
}

/// The class label of a status code: `2xx`, `4xx`… or `none` without an answer.
fn status_class(status: Option<u16>) -> &'static str {
    match status.map(|code| code / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        Some(_) => "other",
        None => "none",
    }
}

/// From 25 ms to 30 s: Clover answers in tens to hundreds of milliseconds, and a request
/// is cut off at `CLOVER_TIMEOUT_SECONDS` (10 s unless set).
const LATENCY_BUCKETS: [f64; 11] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

type LatencyFamily = Family<ClassLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The intake's handle. A default one records into figures no registry shows, for the
/// places (tests, `check`) that have no `/metrics`.
#[derive(Clone, Default)]
pub struct IntakeMetrics {
    signups: Family<SignupLabels, Counter>,
    bots: Family<BotLabels, Counter>,
    sources: SourceCounts,
}

impl IntakeMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        // Every outcome of every door from the start, at zero: a rate over a series that
        // appears only with its first signup misses that signup.
        for outcome in SignupOutcome::ALL {
            for source in SignupSource::ALL {
                drop(
                    self.signups
                        .get_or_create(&SignupLabels { outcome, source }),
                );
            }
        }
        registry.register(
            "signups",
            "Signups sent, by what became of them and the door they came in by",
            self.signups.clone(),
        );
        self.sources.register(registry);
        registry.register(
            "bots",
            "Submissions turned away as bots, by why (honeypot, bad_token, too_fast)",
            self.bots.clone(),
        );
    }

    pub fn signup(&self, source: SignupSource, outcome: SignupOutcome) {
        self.signups
            .get_or_create(&SignupLabels { outcome, source })
            .inc();
    }

    /// One signup stored, from `source` (`src`, or a kiosk), or from none.
    pub fn stored_from(&self, source: Option<&str>) {
        self.sources.stored(source);
    }

    /// Shows each of these bot reasons at zero from the start, as every signup series
    /// is: this module does not know them, the intake does.
    pub fn bot_reasons(&self, reasons: impl IntoIterator<Item = &'static str>) {
        for reason in reasons {
            drop(self.bots.get_or_create(&BotLabels { reason }));
        }
    }

    /// `reason`: one of the intake's fixed words for why a submission is a bot's.
    pub fn bot(&self, reason: &'static str) {
        self.bots.get_or_create(&BotLabels { reason }).inc();
    }
}

/// The delivery worker's handle.
#[derive(Clone, Default)]
pub struct DeliveryMetrics {
    deliveries: Family<DeliveryLabels, Counter>,
}

impl DeliveryMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        for outcome in DeliveryResult::ALL {
            drop(self.deliveries.get_or_create(&DeliveryLabels { outcome }));
        }
        registry.register(
            "deliveries",
            "Delivery attempts, by how they ended: created, updated or linked a customer, \
             failed for good, or to be retried",
            self.deliveries.clone(),
        );
    }

    pub fn attempted(&self, outcome: DeliveryResult) {
        self.deliveries
            .get_or_create(&DeliveryLabels { outcome })
            .inc();
    }
}

/// The Clover client's handle.
#[derive(Clone)]
pub struct CloverMetrics {
    requests: Family<AnswerLabels, Counter>,
    latency: LatencyFamily,
    rate_limited: Counter,
}

impl Default for CloverMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            rate_limited: Counter::default(),
        }
    }
}

impl CloverMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "clover_requests",
            "Requests to Clover's REST API, by the status class and code of the answer \
             (class=\"none\", code=\"none\": no answer came)",
            self.requests.clone(),
        );
        registry.register(
            "clover_request_duration_seconds",
            "Time from sending a request to Clover to reading its whole answer, by status \
             class (not counting the wait for a turn within Clover's rate limits)",
            self.latency.clone(),
        );
        registry.register(
            "clover_rate_limited",
            "Answers 429 Too Many Requests from Clover",
            self.rate_limited.clone(),
        );
    }

    /// One exchange with Clover: the status it answered (`None`: no answer came), and how
    /// long it took.
    pub fn answered(&self, status: Option<u16>, took: Duration) {
        let class = status_class(status);
        self.requests
            .get_or_create(&AnswerLabels {
                class,
                code: AnswerCode(status),
            })
            .inc();
        self.latency
            .get_or_create(&ClassLabels { class })
            .observe(took.as_secs_f64());
        if status == Some(429) {
            self.rate_limited.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_by_class_and_no_answer_is_a_class_of_its_own() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(201)), "2xx");
        assert_eq!(status_class(Some(429)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(Some(999)), "other");
        assert_eq!(status_class(None), "none");
    }

    #[test]
    fn label_words_are_distinct() {
        let mut words: Vec<_> = SignupOutcome::ALL.iter().map(|o| o.as_str()).collect();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), SignupOutcome::ALL.len());
    }
}
