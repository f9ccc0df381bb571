//! The refresh decisions, as pure functions of the stored pair and Clover's answers, so
//! that every path (fresh, due, refused, spent, lost) is tested without a clock or a
//! network. `credential.rs` carries them out.

use std::time::Duration;

use super::api::{TokenError, TokenPair};
use crate::clover::vault::OAuthPair;

/// What to do with the pair held, before anything is sent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RefreshMove {
    /// Fresh enough: use it as it is.
    Keep,
    /// Spend the refresh token for a new pair (recording first that it may be spent).
    Refresh,
    /// The refresh token may have been spent by a refresh whose answer never came: only
    /// recovery may use it, since refreshing it again could spend it twice.
    Recover,
    /// Only the merchant can help: nothing is connected, Clover refused the pair for good,
    /// or it came without a refresh token.
    AskMerchant(Option<&'static str>),
}

/// Decides from the pair held (`None` when nothing is connected), whether a refresh is
/// asked for anyway (`force`: Clover refused the access token), the time (Unix seconds)
/// and how long before expiry a pair is renewed.
pub(super) fn plan_refresh(
    held: Option<&OAuthPair>,
    force: bool,
    now: i64,
    margin: Duration,
) -> RefreshMove {
    let Some(held) = held else {
        return RefreshMove::AskMerchant(None);
    };
    if held.needs_authorization.is_some() {
        return RefreshMove::AskMerchant(None);
    }
    if held.recovery_pending {
        // Checked before freshness: the pair in use may be fine, but its refresh token is
        // in doubt, and the next refresh must not spend it.
        return if held.refresh_token.is_some() {
            RefreshMove::Recover
        } else {
            RefreshMove::AskMerchant(Some(NO_REFRESH_TOKEN))
        };
    }
    if !force && !due_for_refresh(Some(held), now, margin) {
        return RefreshMove::Keep;
    }
    if held.refresh_token.is_none() {
        return RefreshMove::AskMerchant(Some(NO_REFRESH_TOKEN));
    }
    RefreshMove::Refresh
}

/// Why a pair without a refresh token cannot be kept alive.
pub(super) const NO_REFRESH_TOKEN: &str = "Clover gave no refresh token.";

/// Within `margin` of expiry (or with no known expiry). The margin never exceeds half the
/// token's lifetime, so a margin set longer than Clover's tokens live cannot refresh on
/// every request.
pub(super) fn due_for_refresh(held: Option<&OAuthPair>, now: i64, margin: Duration) -> bool {
    let Some(held) = held else {
        return true;
    };
    let Some(expires) = held.access_expires_at else {
        return true;
    };
    let lifetime = held
        .last_refresh_at
        .map(|issued| expires - issued)
        .unwrap_or(i64::MAX);
    let margin = i64::try_from(margin.as_secs())
        .unwrap_or(i64::MAX)
        .min(lifetime / 2);
    expires - now <= margin
}

/// What a refresh's answer leaves to do.
#[derive(Debug)]
pub(super) enum AfterRefresh {
    /// A new pair: use and store it.
    Adopt(TokenPair),
    /// The token may have been spent with no answer seen (a lost answer), or Clover says
    /// it was and offers recovery: recover with it, never refresh it again.
    Recover,
    /// Never carried out (Clover unreachable): the token is as unspent as before, and
    /// the refresh may be tried again later.
    NotSpent(TokenError),
    /// Clover refused: the merchant must connect again.
    Refused(TokenError),
}

pub(super) fn after_refresh(answer: Result<TokenPair, TokenError>) -> AfterRefresh {
    match answer {
        Ok(pair) => AfterRefresh::Adopt(pair),
        Err(TokenError::AnswerLost(_) | TokenError::SpentButRecoverable) => AfterRefresh::Recover,
        Err(error @ TokenError::Unreachable(_)) => AfterRefresh::NotSpent(error),
        Err(error @ TokenError::Refused { .. }) => AfterRefresh::Refused(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const NOW: i64 = 1_800_000_000;
    const MARGIN: Duration = Duration::from_secs(300);

    /// A pair issued ten minutes ago that lives an hour.
    fn pair() -> OAuthPair {
        OAuthPair {
            merchant_id: "MERCHANT00001".into(),
            access_token: SecretString::from("access"),
            access_expires_at: Some(NOW + 3_000),
            refresh_token: Some(SecretString::from("refresh")),
            refresh_expires_at: Some(NOW + 86_400 * 365),
            previous_refresh_token: None,
            last_refresh_at: Some(NOW - 600),
            needs_authorization: None,
            recovery_pending: false,
        }
    }

    #[test]
    fn a_fresh_pair_is_kept_and_one_near_its_end_is_refreshed() {
        assert_eq!(
            plan_refresh(Some(&pair()), false, NOW, MARGIN),
            RefreshMove::Keep
        );
        let near_end = OAuthPair {
            access_expires_at: Some(NOW + 200),
            ..pair()
        };
        assert_eq!(
            plan_refresh(Some(&near_end), false, NOW, MARGIN),
            RefreshMove::Refresh
        );
        let expired = OAuthPair {
            access_expires_at: Some(NOW - 1),
            ..pair()
        };
        assert_eq!(
            plan_refresh(Some(&expired), false, NOW, MARGIN),
            RefreshMove::Refresh
        );
    }

    #[test]
    fn a_refused_access_token_forces_a_refresh_of_a_fresh_pair() {
        assert_eq!(
            plan_refresh(Some(&pair()), true, NOW, MARGIN),
            RefreshMove::Refresh
        );
    }

    #[test]
    fn a_token_in_doubt_is_only_ever_recovered_even_when_the_pair_is_fresh() {
        let in_doubt = OAuthPair {
            recovery_pending: true,
            ..pair()
        };
        for force in [false, true] {
            assert_eq!(
                plan_refresh(Some(&in_doubt), force, NOW, MARGIN),
                RefreshMove::Recover
            );
        }
    }

    #[test]
    fn without_a_pair_a_refresh_token_or_the_merchants_approval_only_the_merchant_can_help() {
        assert_eq!(
            plan_refresh(None, false, NOW, MARGIN),
            RefreshMove::AskMerchant(None)
        );
        let refused = OAuthPair {
            needs_authorization: Some("refused".into()),
            ..pair()
        };
        assert_eq!(
            plan_refresh(Some(&refused), true, NOW, MARGIN),
            RefreshMove::AskMerchant(None)
        );
        let no_refresh_token = OAuthPair {
            refresh_token: None,
            access_expires_at: Some(NOW + 10),
            ..pair()
        };
        assert_eq!(
            plan_refresh(Some(&no_refresh_token), false, NOW, MARGIN),
            RefreshMove::AskMerchant(Some(NO_REFRESH_TOKEN))
        );
    }

    #[test]
    fn the_margin_never_exceeds_half_a_tokens_lifetime() {
        // Lives 10 minutes, issued now: a one-hour margin would refresh it at once, and
        // again on every request.
        let short_lived = OAuthPair {
            access_expires_at: Some(NOW + 600),
            last_refresh_at: Some(NOW),
            ..pair()
        };
        let hour = Duration::from_secs(3_600);
        assert!(!due_for_refresh(Some(&short_lived), NOW, hour));
        assert!(due_for_refresh(Some(&short_lived), NOW + 300, hour));
    }

    #[test]
    fn a_lost_or_spent_answer_recovers_an_unreachable_one_spends_nothing_a_refusal_asks_the_merchant()
     {
        assert!(matches!(
            after_refresh(Err(TokenError::AnswerLost("timeout".into()))),
            AfterRefresh::Recover
        ));
        assert!(matches!(
            after_refresh(Err(TokenError::SpentButRecoverable)),
            AfterRefresh::Recover
        ));
        assert!(matches!(
            after_refresh(Err(TokenError::Unreachable("refused".into()))),
            AfterRefresh::NotSpent(_)
        ));
        assert!(matches!(
            after_refresh(Err(TokenError::Refused {
                status: 400,
                message: "invalid_grant".into()
            })),
            AfterRefresh::Refused(_)
        ));
    }
}
