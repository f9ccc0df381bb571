//! How submissions reach Clover and how long they are kept: `DUPLICATE_POLICY`,
//! `DELIVERY_BACKOFF_BASE_MS`, `DELIVERY_BACKOFF_MAX_MS`, `AUTH_RECHECK_SECONDS`,
//! `DELIVERY_LEASE_SECONDS` and `DATA_RETENTION_DAYS`.

use std::time::Duration;

use crate::domain::DuplicatePolicy;

use super::reader::{Read, Reader};

/// A delivery lease is renewed every third of itself: shorter than this, a slow or
/// distant database, or clocks a little apart, could let it run out under a delivery
/// still going.
const MIN_LEASE_SECONDS: u64 = 15;
/// An hour: longer, and a dead instance's deliveries would wait longer than anyone would.
const MAX_LEASE_SECONDS: u64 = 3600;
const DEFAULT_LEASE_SECONDS: u64 = 60;

#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// `DUPLICATE_POLICY`
    pub duplicate_policy: DuplicatePolicy,
    /// `DELIVERY_BACKOFF_BASE_MS`
    pub backoff_base: Duration,
    /// `DELIVERY_BACKOFF_MAX_MS`
    pub backoff_max: Duration,
    /// `AUTH_RECHECK_SECONDS`: while Clover refuses the credential, how often to try again.
    pub auth_recheck: Duration,
    /// `DELIVERY_LEASE_SECONDS`: how long a claimed submission stays with the instance that
    /// claimed it unless renewed; after that, another instance may take it over.
    pub lease: Duration,
    /// `DATA_RETENTION_DAYS`: how long a delivered submission's personal data is kept.
    pub retention: Duration,
}

/// The delivery settings; `clover_timeout` is `CLOVER_TIMEOUT_SECONDS` when it was read
/// without a problem, which the lease must outlast three times.
pub(super) fn read(
    env: &mut Reader<'_>,
    clover_timeout: Option<Duration>,
) -> Read<DeliverySettings> {
    let duplicate_policy = env.parsed("DUPLICATE_POLICY", "one of update, skip or create");
    let backoff_base = env.parsed::<u64>("DELIVERY_BACKOFF_BASE_MS", "milliseconds, at least 1");
    let backoff_max = env.parsed::<u64>("DELIVERY_BACKOFF_MAX_MS", "milliseconds, at least 1");
    let auth_recheck = env.parsed::<u64>("AUTH_RECHECK_SECONDS", "a whole number of seconds");
    let lease = read_lease(env, clover_timeout);
    let retention_days = env.parsed::<u32>("DATA_RETENTION_DAYS", "a whole number of days");
    if let (Ok(Some(base)), Ok(Some(max))) = (backoff_base, backoff_max)
        && (base == 0 || max < base)
    {
        env.problem("DELIVERY_BACKOFF_BASE_MS/DELIVERY_BACKOFF_MAX_MS: expected 1 ≤ base ≤ max");
    }
    Ok(DeliverySettings {
        duplicate_policy: duplicate_policy?.unwrap_or_default(),
        backoff_base: Duration::from_millis(backoff_base?.unwrap_or(2_000).max(1)),
        backoff_max: Duration::from_millis(backoff_max?.unwrap_or(600_000).max(1)),
        auth_recheck: Duration::from_secs(auth_recheck?.unwrap_or(60).max(1)),
        lease: lease?,
        retention: Duration::from_secs(u64::from(retention_days?.unwrap_or(90)) * 86_400),
    })
}

fn read_lease(env: &mut Reader<'_>, clover_timeout: Option<Duration>) -> Read<Duration> {
    let seconds = env.parsed::<u64>("DELIVERY_LEASE_SECONDS", "a whole number of seconds")?;
    let lease = seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&lease) {
        return Err(env.problem(format!(
            "DELIVERY_LEASE_SECONDS: from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS} (it is \
             renewed every third of itself, and a dead instance's deliveries wait that long), \
             got {lease}"
        )));
    }
    if let Some(timeout) = clover_timeout.map(|t| t.as_secs())
        && lease < 3 * timeout
    {
        env.problem(format!(
            "DELIVERY_LEASE_SECONDS ({lease}) must be at least three times \
                 CLOVER_TIMEOUT_SECONDS ({timeout}): a delivery writes to Clover only while a \
                 third of its claim is left, so that no other instance takes it over meanwhile"
        ));
    }
    Ok(Duration::from_secs(lease))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::settings;
    use crate::domain::DuplicatePolicy;

    #[test]
    fn duplicates_are_linked_unless_updating_is_chosen() {
        // Anyone who knows a customer's address can submit it: by default nothing they
        // type reaches that customer.
        let default = settings(&[]).unwrap();
        assert_eq!(default.delivery.duplicate_policy, DuplicatePolicy::Skip);
        let update = settings(&[("DUPLICATE_POLICY", "update")]).unwrap();
        assert_eq!(update.delivery.duplicate_policy, DuplicatePolicy::Update);
    }

    #[test]
    fn a_delivery_lease_outlasts_three_requests_to_clover_and_no_more_than_an_hour() {
        let ok = settings(&[
            ("DELIVERY_LEASE_SECONDS", "30"),
            ("CLOVER_TIMEOUT_SECONDS", "10"),
        ]);
        assert_eq!(ok.unwrap().delivery.lease, Duration::from_secs(30));
        for (lease, timeout) in [("29", "10"), ("2", "1"), ("3601", "10")] {
            let problems = settings(&[
                ("DELIVERY_LEASE_SECONDS", lease),
                ("CLOVER_TIMEOUT_SECONDS", timeout),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                problems.contains("DELIVERY_LEASE_SECONDS"),
                "{lease}: {problems}"
            );
        }
        let default_lease = settings(&[("CLOVER_TIMEOUT_SECONDS", "30")]).unwrap_err();
        assert!(
            default_lease.to_string().contains("three times"),
            "{default_lease}"
        );
    }
}
