//! A permission Clover refuses while the credential itself works: delivery is parked on
//! it, the status page shows it, and only proof that it was granted lifts it.

use reqwest::StatusCode;

use super::call::retry_after;
use super::{CloverClient, Request};
use crate::clover::{Access, AuthSnapshot, AuthState, CloverError, MissingPermission};

/// What asking Clover for one customer told about a token refused a write.
pub(super) enum Probe {
    /// It reads: the write was refused for want of a permission.
    Reads,
    /// Refused too: the token itself is not accepted.
    Refused,
    /// No answer to go by (rate limited, unavailable): try the whole delivery later.
    Unknown(CloverError),
}

impl CloverClient {
    /// The credential's state, or the missing permission delivery is parked on.
    pub fn auth(&self) -> AuthSnapshot {
        let snapshot = self.credential.snapshot();
        let missing = *self.missing_permission.lock().expect("permission lock");
        match missing {
            Some(missing) if snapshot.state == AuthState::Ok => AuthSnapshot {
                state: AuthState::Failing,
                reason: Some(missing.explanation().to_owned()),
                missing_permission: Some(missing),
                ..snapshot
            },
            _ => snapshot,
        }
    }

    /// Clover showed that `granted` is no longer missing: delivery resumes if it was
    /// parked on it. Only proof counts (a write that went through, a search that came
    /// back with email addresses), not a delivery that happened to need neither.
    pub(super) fn granted(&self, granted: MissingPermission) {
        let mut missing = self.missing_permission.lock().expect("permission lock");
        if *missing == Some(granted) {
            *missing = None;
            tracing::info!(
                permission = granted.code(),
                "Clover grants the missing permission now; delivery resumes"
            );
        }
    }

    /// Delivery is parked on a missing permission until a delivery succeeds again.
    pub(super) fn parked_on(&self, missing: MissingPermission) -> CloverError {
        let previous = self
            .missing_permission
            .lock()
            .expect("permission lock")
            .replace(missing);
        if previous != Some(missing) {
            tracing::error!(
                permission = missing.code(),
                "delivery is parked: {}",
                missing.explanation()
            );
        }
        CloverError::MissingPermission(missing)
    }

    /// Whether `access` can still search customers: tells a write refused for want of a
    /// permission from a token refused altogether.
    pub(super) async fn probe_read(&self, access: &Access) -> Probe {
        let probe = Request {
            path: &["customers"],
            query: &[("limit", "1")],
            send_by: None,
        };
        match self.send_checked(access, &probe).await {
            Ok(response) if response.status().is_success() => Probe::Reads,
            Ok(response) if response.status() == StatusCode::UNAUTHORIZED => Probe::Refused,
            Ok(response) => Probe::Unknown(CloverError::Unavailable {
                reason: format!(
                    "Clover answered {} when asked whether the token still reads customers",
                    response.status()
                ),
                retry_after: retry_after(response.headers()),
            }),
            Err(error) => Probe::Unknown(error),
        }
    }
}
