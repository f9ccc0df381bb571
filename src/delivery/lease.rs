//! Lease arithmetic, all of it: a claim on a queued submission lasts a lease unless its
//! instance's heartbeat renews it, an instance unseen for a lease no longer counts as
//! alive, and a delivery sends its writes to Clover only while its claim is sure to
//! outlast them. The stores keep leases as epoch milliseconds.

use std::time::Duration;

use tokio::time::Instant;

use crate::storage::now_ms;

/// Time a write needs beyond the request's own timeout before the claim runs out.
const WRITE_MARGIN: Duration = Duration::from_secs(1);

/// How often an instance renews its claims: three times a lease, so that one or two
/// late heartbeats do not let a claim run out under a delivery.
pub fn heartbeat_interval(lease: Duration) -> Duration {
    lease / 3
}

/// When a lease taken or renewed at `now_ms` runs out, in the stored unit.
pub fn lease_until(now_ms: i64, lease: Duration) -> i64 {
    now_ms.saturating_add(millis(lease))
}

/// Instances last seen before this, a lease ago, no longer count as alive.
pub fn alive_since(now_ms: i64, lease: Duration) -> i64 {
    now_ms.saturating_sub(millis(lease))
}

/// What is left until `lease_until` (milliseconds since the epoch), if anything.
pub fn time_left(lease_until: Option<i64>) -> Option<Duration> {
    let left = lease_until?.checked_sub(now_ms())?;
    (left > 0).then(|| Duration::from_millis(left.unsigned_abs()))
}

/// Until when a delivery whose claim has `left` to run may send writes that each take
/// up to `request_timeout`: every write has landed (or failed) before another instance
/// could take the submission over. `None` when the claim is too short for one.
pub fn send_writes_by(left: Duration, request_timeout: Duration) -> Option<Instant> {
    (left > request_timeout + WRITE_MARGIN).then(|| Instant::now() + (left - request_timeout))
}

/// A duration in the unit timestamps are stored in.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
