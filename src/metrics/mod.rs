//! What the service counts for Prometheus, served at `/metrics` (the handler is in
//! `routes::metrics`, the bearer check in `access.rs`).
//!
//! Two kinds of figures. Counters and the Clover latency histogram live in memory: each
//! observer (the intake, the delivery worker, the Clover client) records through the
//! small handle of its own from `record.rs`, given to it where it is built, so they are
//! per instance and start from zero at each start. The queue, the credential and the
//! open alerts are read when scraped ([`Scrape`]), from the database and the credential
//! every instance shares, so every instance reports the same values for them.
//!
//! This module depends on nothing else in the crate but `rate_limit` (for `access.rs`):
//! the capabilities that record depend on it, not it on them.

pub mod access;
mod record;
mod sources;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use access::{MetricsAccess, MetricsRefusal};
pub use record::{
    CloverMetrics, DeliveryMetrics, DeliveryResult, IntakeMetrics, SignupOutcome, SignupSource,
};

/// Every metric's name begins with this.
const PREFIX: &str = "clover_signup";

/// `Content-Type` of the answer: Prometheus' text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The registry of the in-memory figures and the handles that record into it. Cheap to
/// clone; every clone records into the same figures.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    intake: IntakeMetrics,
    delivery: DeliveryMetrics,
    clover: CloverMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let intake = IntakeMetrics::default();
        let delivery = DeliveryMetrics::default();
        let clover = CloverMetrics::default();
        intake.register(&mut registry);
        delivery.register(&mut registry);
        clover.register(&mut registry);
        Self {
            inner: Arc::new(Inner {
                registry,
                intake,
                delivery,
                clover,
            }),
        }
    }

    /// The intake's handle: signups by outcome and source, bots by reason.
    pub fn intake(&self) -> &IntakeMetrics {
        &self.inner.intake
    }

    /// The delivery worker's handle: deliveries by outcome.
    pub fn delivery(&self) -> &DeliveryMetrics {
        &self.inner.delivery
    }

    /// The Clover client's handle: requests by status, their latency, `429`s.
    pub fn clover(&self) -> &CloverMetrics {
        &self.inner.clover
    }

    /// The whole exposition: the in-memory figures, then those read for this scrape.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut text = String::new();
        // Writing to a String fails only if a value's own formatting does, which the
        // client's encoders never do.
        prometheus_text::encode(&mut text, &self.inner.registry)
            .expect("writing to a String cannot fail");
        prometheus_text::encode(&mut text, &scrape.registry())
            .expect("writing to a String cannot fail");
        text
    }
}

/// What is read at scrape time, from the database and the credential. A registry of its
/// own per scrape, so that two scrapes at once never see each other's half-set gauges.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// `None` when the database did not answer: the figures it holds are left out, and
    /// `database_up` says why.
    pub waiting: Option<Waiting>,
    /// Every state the credential can be in, and whether it is in it now.
    pub auth_states: Vec<(&'static str, bool)>,
    /// Until the OAuth refresh token ends, when the credential is an OAuth pair whose
    /// end is known.
    pub refresh_expires_in: Option<Duration>,
}

/// What waits, as the database has it now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Signups stored and not yet delivered.
    pub pending: u64,
    /// Signups Clover will not take as they are: they wait for the merchant.
    pub failed: u64,
    /// How long the oldest pending signup has waited; `None` when none is pending.
    pub oldest_pending_age: Option<Duration>,
    /// Alerts sent to the merchant about trouble that is not over.
    pub alerts_open: u64,
}

impl Scrape {
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix(PREFIX);
        let up = Gauge::<i64>::default();
        up.set(i64::from(self.waiting.is_some()));
        registry.register(
            "database_up",
            "Whether the database answered this scrape (1) or not (0): without it, the queue \
             and alert figures are left out",
            up,
        );
        if let Some(waiting) = &self.waiting {
            waiting.register(&mut registry);
        }
        let states = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        for &(state, current) in &self.auth_states {
            states
                .get_or_create(&[("state", state)])
                .set(i64::from(current));
        }
        registry.register(
            "auth_state",
            "The Clover credential's state: 1 for the current one, 0 for the others",
            states,
        );
        if let Some(left) = self.refresh_expires_in {
            let expires = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            expires.set(left.as_secs_f64());
            registry.register(
                "oauth_refresh_expires_in_seconds",
                "Seconds until the OAuth refresh token ends; after that only a reconnect \
                 helps (absent when unknown or not OAuth)",
                expires,
            );
        }
        registry
    }
}

impl Waiting {
    /// The figures only the database knows.
    fn register(&self, registry: &mut Registry) {
        let depth = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        depth
            .get_or_create(&[("state", "pending")])
            .set(count(self.pending));
        depth
            .get_or_create(&[("state", "failed")])
            .set(count(self.failed));
        registry.register(
            "queue_depth",
            "Signups waiting, by state: pending (to be delivered) or failed (for the \
                 merchant)",
            depth,
        );
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        age.set(self.oldest_pending_age.unwrap_or_default().as_secs_f64());
        registry.register(
            "queue_oldest_pending_age_seconds",
            "How long the oldest pending signup has waited for delivery (0 when none \
                 waits)",
            age,
        );
        let alerts = Gauge::<i64>::default();
        alerts.set(count(self.alerts_open));
        registry.register(
            "alerts_open",
            "Alerts sent to the merchant about trouble that is not over",
            alerts,
        );
    }
}

/// A count as a gauge's value; no queue holds 2^63 signups.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> Scrape {
        Scrape {
            waiting: Some(Waiting {
                pending: 3,
                failed: 1,
                oldest_pending_age: Some(Duration::from_millis(2_500)),
                alerts_open: 2,
            }),
            auth_states: vec![("ok", false), ("failing", true)],
            refresh_expires_in: Some(Duration::from_secs(86_400)),
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn the_figures_read_at_scrape_time_are_rendered_as_read() {
        let text = Metrics::new().render(&scrape());
        let samples = lines(&text);
        for expected in [
            "clover_signup_database_up 1",
            r#"clover_signup_queue_depth{state="pending"} 3"#,
            r#"clover_signup_queue_depth{state="failed"} 1"#,
            "clover_signup_queue_oldest_pending_age_seconds 2.5",
            "clover_signup_alerts_open 2",
            r#"clover_signup_auth_state{state="ok"} 0"#,
            r#"clover_signup_auth_state{state="failing"} 1"#,
            "clover_signup_oauth_refresh_expires_in_seconds 86400.0",
        ] {
            assert!(samples.contains(&expected), "{expected} not in\n{text}");
        }
    }

    #[test]
    fn without_the_database_its_figures_are_left_out_and_said_to_be() {
        let mut scrape = scrape();
        scrape.waiting = None;
        scrape.refresh_expires_in = None;
        let text = Metrics::new().render(&scrape);
        assert!(
            lines(&text).contains(&"clover_signup_database_up 0"),
            "{text}"
        );
        for absent in [
            "queue_depth",
            "oldest_pending",
            "alerts_open",
            "refresh_expires",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
    }

    #[test]
    fn every_signup_and_delivery_series_is_there_from_the_start() {
        let text = Metrics::new().render(&Scrape::default());
        let samples = lines(&text);
        assert!(
            samples.contains(&r#"clover_signup_signups_total{outcome="stored",source="embed"} 0"#),
            "{text}"
        );
        assert!(
            samples.contains(&r#"clover_signup_deliveries_total{outcome="retried"} 0"#),
            "{text}"
        );
        assert!(
            samples.contains(&"clover_signup_clover_rate_limited_total 0"),
            "{text}"
        );
    }
}
