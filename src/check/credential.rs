//! The credential `check` would send to Clover: the API token (entered on the admin page
//! or from the environment), or the stored OAuth pair, reported line by line.

use time::OffsetDateTime;

use super::{Report, date};
use crate::clover::vault::{EnteredToken, OAuthPair, env_token_digest};
use crate::clover::{Access, MerchantId};
use crate::configuration::{CloverAuthSettings, Settings};
use crate::storage::SecretCipher;
use crate::storage::inspection::{Inspection, SchemaState};

/// Refresh tokens this close to their end are worth a reconnect now.
const REFRESH_WARNING_DAYS: i64 = 14;

/// What the database holds, as far as it can be read.
struct Stored<'a> {
    inspection: Option<&'a Inspection>,
    cipher: Option<SecretCipher>,
    /// Why the stored credentials cannot be looked at, when they cannot: a token entered
    /// on the admin page, or the OAuth pair, may be there all the same.
    unreadable: Option<&'static str>,
}

/// The credential the server would use now, reported; `None` when there is none to check
/// with.
pub(super) fn credential(
    settings: &Settings,
    inspection: Option<&Inspection>,
    report: &mut Report,
) -> Option<Access> {
    let stored = Stored {
        inspection,
        cipher: settings
            .secret_key
            .as_ref()
            .map(SecretCipher::from_secret_key),
        unreadable: match inspection.map(|i| i.schema) {
            None => Some("the database cannot be read"),
            Some(SchemaState::Behind { .. }) => Some("the database is not migrated yet"),
            Some(_) => None,
        },
    };
    match &settings.clover.auth {
        CloverAuthSettings::Demo => None,
        CloverAuthSettings::Token {
            merchant_id,
            api_token,
        } => {
            // Without SECRET_KEY no entered token can be read, so none is compared.
            let digest = settings
                .secret_key
                .as_ref()
                .map(|key| env_token_digest(key, api_token.as_ref()))
                .unwrap_or_default();
            let from_env = merchant_id
                .clone()
                .zip(api_token.clone())
                .map(|(merchant_id, token)| Access { merchant_id, token });
            api_token_access(&stored, &digest, from_env, report)
        }
        CloverAuthSettings::OAuth(_) => oauth_access(&stored, report),
    }
}

/// The API token the server would use: one entered on the admin page over the
/// environment's current token wins over it.
fn api_token_access(
    stored: &Stored<'_>,
    env_digest: &str,
    from_env: Option<Access>,
    report: &mut Report,
) -> Option<Access> {
    const SUBJECT: &str = "API token";
    let entered = match stored.token() {
        Ok(entered) => entered
            .filter(|entered| entered.applies_over(env_digest))
            .and_then(EnteredToken::access),
        Err(error) => {
            report.fails(
                SUBJECT,
                format!("the token entered on the admin page cannot be read: {error}"),
                "set SECRET_KEY to the key the server uses, or enter the token again on the admin page",
            );
            return None;
        }
    };
    let (access, whence) = match (entered, from_env, stored.unreadable) {
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

/// The stored OAuth pair's access token, if the merchant has connected and it is valid.
fn oauth_access(stored: &Stored<'_>, report: &mut Report) -> Option<Access> {
    const SUBJECT: &str = "OAuth connection";
    if let Some(why) = stored.unreadable {
        report.not_checked(
            SUBJECT,
            format!("{why}: the stored connection cannot be read"),
        );
        return None;
    }
    match stored.pair() {
        Ok(Some(pair)) => oauth_pair(&pair, report),
        Ok(None) => {
            report.fails(
                SUBJECT,
                "not connected yet",
                "start the server, open /admin and press Connect to Clover",
            );
            None
        }
        Err(error) => {
            report.fails(
                SUBJECT,
                format!("the stored connection cannot be read: {error}"),
                "set SECRET_KEY to the key the server uses, or connect again from /admin",
            );
            None
        }
    }
}

impl Stored<'_> {
    fn token(&self) -> Result<Option<EnteredToken>, crate::storage::StorageError> {
        match (self.inspection, &self.cipher) {
            (Some(inspection), Some(cipher)) => inspection.token(cipher),
            _ => Ok(None),
        }
    }

    fn pair(&self) -> Result<Option<OAuthPair>, crate::storage::StorageError> {
        match (self.inspection, &self.cipher) {
            (Some(inspection), Some(cipher)) => inspection.pair(cipher),
            _ => Ok(None),
        }
    }
}

/// Reports the stored pair; the access token to check customers with, if it is still
/// valid (refreshing it here would spend the server's refresh token).
fn oauth_pair(pair: &OAuthPair, report: &mut Report) -> Option<Access> {
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
    if !refresh_token_lives(pair, now, report) {
        return None;
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

/// Reports how long the refresh token lives; false once it has expired.
fn refresh_token_lives(pair: &OAuthPair, now: i64, report: &mut Report) -> bool {
    match pair.refresh_expires_at {
        Some(end) if end <= now => {
            report.fails(
                "refresh token",
                format!("expired on {}", date(end)),
                "open /admin and press Connect to Clover",
            );
            return false;
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
    true
}
