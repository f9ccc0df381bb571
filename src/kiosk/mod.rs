//! Counter tablets. The merchant names a device on `/admin/kiosks` and gets a pairing link
//! that works once, for [`PAIRING_LIFETIME`]; the tablet that opens it is given a
//! long-lived cookie, and from then on `/kiosk` serves it the form made for a shared
//! screen. A device can be renamed, given a new link (once it is used, the tablet paired
//! before is unpaired) or revoked for good.
//!
//! Both the link and the cookie are `<device id>.<secret>`, the secret 256 random bits of
//! which only the SHA-256 is stored: stronger than a signature, since a device unpaired
//! in the database is unpaired on every instance at its next request, and no key is
//! needed (demo mode pairs too). The routes are in `routes::kiosk`, the pages in
//! `templates::kiosk`; the port is implemented in `storage` (`kiosks.rs`), its contract
//! tests are `tests/storage/kiosks.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::configuration::KioskSettings;
use crate::domain::{SourceTag, has_invisible_characters, random_uuid};
use crate::rate_limit::DeviceLimiter;
use crate::storage::{StorageError, now_ms};

/// How long a pairing link works.
pub const PAIRING_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The longest device name: it is shown on the admin page and written into Clover's note.
pub const NAME_MAX_CHARS: usize = 40;
/// `last used` is written at most this often per device.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A paired (or to be paired) tablet, as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskDevice {
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
    /// Until when its pairing link works, while one is open.
    pub pairing_expires_ms: Option<i64>,
    pub paired_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    /// When a signup typed on it was last stored.
    pub last_signup_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// Where a device stands, for the admin page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Its link is open: waiting for the tablet to open it.
    Waiting,
    Paired,
    /// Its link expired before any tablet opened it.
    NotPaired,
    Revoked,
}

impl KioskDevice {
    pub fn state(&self, now_ms: i64) -> DeviceState {
        if self.revoked_at_ms.is_some() {
            DeviceState::Revoked
        } else if self.pairing_expires_ms.is_some_and(|until| until > now_ms) {
            DeviceState::Waiting
        } else if self.paired_at_ms.is_some() {
            DeviceState::Paired
        } else {
            DeviceState::NotPaired
        }
    }

    /// The source its signups are kept under: `kiosk:<name>`.
    pub fn source(&self) -> SourceTag {
        SourceTag::kiosk(&self.name)
    }
}

/// The tablets, stored. Secrets arrive here hashed ([`secret_hash`]).
#[async_trait]
pub trait KioskDevices: Send + Sync {
    /// A new device, its pairing link open.
    async fn add(&self, device: &KioskDevice, pairing_hash: &str) -> Result<(), StorageError>;
    /// Every device, newest first.
    async fn all(&self) -> Result<Vec<KioskDevice>, StorageError>;
    /// One device, with the hash of the cookie it was paired with.
    async fn find(&self, id: &str) -> Result<Option<(KioskDevice, Option<String>)>, StorageError>;
    /// Opens a new pairing link for a device not revoked. `false` when there is none.
    async fn offer_pairing(
        &self,
        id: &str,
        pairing_hash: &str,
        expires_ms: i64,
    ) -> Result<bool, StorageError>;
    /// Pairs the device whose open link has `pairing_hash`, at `now_ms`, with a cookie of
    /// `cookie_hash`, and closes the link: at most once per link, never after it expired
    /// or the device was revoked. The device's name when it paired.
    async fn pair(
        &self,
        id: &str,
        pairing_hash: &str,
        cookie_hash: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StorageError>;
    /// `false` when there is no such device.
    async fn rename(&self, id: &str, name: &str) -> Result<bool, StorageError>;
    /// Unpairs for good. `false` when there is no such device.
    async fn revoke(&self, id: &str, now_ms: i64) -> Result<bool, StorageError>;
    /// Notes that a signup typed on the device was stored at `now_ms`.
    async fn signed_up(&self, id: &str, now_ms: i64) -> Result<(), StorageError>;
    /// Notes a use at `now_ms`, unless one was noted in the minute before.
    async fn touch(&self, id: &str, now_ms: i64, every_ms: i64) -> Result<(), StorageError>;
}

/// What a request's device cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognised {
    Paired(KioskDevice),
    /// It names a device that was revoked or paired anew since, or one it was never
    /// paired with (another secret).
    Unpaired,
    /// No cookie, or one of no device here.
    Unknown,
}

/// Why a pairing link did not pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingRefused {
    /// Used already, expired, revoked, or never issued.
    NotValid,
}

/// A device name the merchant typed, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName(String);

impl DeviceName {
    pub fn parse(text: &str) -> Option<Self> {
        let name = text.trim();
        let fits = (1..=NAME_MAX_CHARS).contains(&name.chars().count());
        let plain = !name.chars().any(char::is_control) && !has_invisible_characters(name);
        (fits && plain).then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tablets: pairing, recognising and their allowance.
pub struct Kiosk {
    pub settings: KioskSettings,
    /// Each device's allowance of signups.
    pub limiter: DeviceLimiter,
    devices: Arc<dyn KioskDevices>,
}

impl Kiosk {
    pub fn new(settings: KioskSettings, devices: Arc<dyn KioskDevices>) -> Self {
        Self {
            limiter: DeviceLimiter::new(settings.rate_per_minute),
            settings,
            devices,
        }
    }

    /// A new device named `name`, and its pairing link's token.
    pub async fn add(&self, name: &DeviceName) -> Result<(KioskDevice, String), StorageError> {
        let now = now_ms();
        let device = KioskDevice {
            id: random_uuid().to_string(),
            name: name.as_str().to_owned(),
            created_at_ms: now,
            pairing_expires_ms: Some(now + lifetime_ms()),
            paired_at_ms: None,
            last_used_at_ms: None,
            last_signup_at_ms: None,
            revoked_at_ms: None,
        };
        let secret = new_secret();
        self.devices.add(&device, &secret_hash(&secret)).await?;
        let token = format!("{}.{secret}", device.id);
        Ok((device, token))
    }

    /// A new pairing link for device `id`: the tablet that opens it replaces the one
    /// paired now. `None` for a device revoked or unknown.
    pub async fn new_link(&self, id: &str) -> Result<Option<String>, StorageError> {
        let secret = new_secret();
        let expires = now_ms() + lifetime_ms();
        let offered = (self.devices)
            .offer_pairing(id, &secret_hash(&secret), expires)
            .await?;
        Ok(offered.then(|| format!("{id}.{secret}")))
    }

    /// Pairs the tablet that opened the link with `token`: the cookie to give it, and the
    /// device's name.
    pub async fn pair(
        &self,
        token: &str,
    ) -> Result<Result<(String, String), PairingRefused>, StorageError> {
        let Some((id, secret)) = split(token) else {
            return Ok(Err(PairingRefused::NotValid));
        };
        let cookie_secret = new_secret();
        let paired = (self.devices)
            .pair(
                id,
                &secret_hash(secret),
                &secret_hash(&cookie_secret),
                now_ms(),
            )
            .await?;
        Ok(match paired {
            Some(name) => Ok((format!("{id}.{cookie_secret}"), name)),
            None => Err(PairingRefused::NotValid),
        })
    }

    /// The device a request's cookie names, noting its use.
    pub async fn recognise(&self, cookie: Option<&str>) -> Result<Recognised, StorageError> {
        let Some((id, secret)) = cookie.and_then(split) else {
            return Ok(Recognised::Unknown);
        };
        let Some((device, paired_hash)) = self.devices.find(id).await? else {
            return Ok(Recognised::Unknown);
        };
        let holds_it = paired_hash.is_some_and(|hash| hash == secret_hash(secret));
        if device.revoked_at_ms.is_some() || !holds_it {
            return Ok(Recognised::Unpaired);
        }
        // Every request of a tablet comes here: a write only when the use noted is old.
        let now = now_ms();
        if device
            .last_used_at_ms
            .is_none_or(|at| now - at >= TOUCH_EVERY_MS)
        {
            self.devices.touch(id, now, TOUCH_EVERY_MS).await?;
        }
        Ok(Recognised::Paired(device))
    }

    /// A signup typed on `device` was stored: the forms it served before are spent (one
    /// sent again from the browser's history would show the last customer's input).
    pub async fn signed_up(&self, device: &str) -> Result<(), StorageError> {
        self.devices.signed_up(device, now_ms()).await
    }

    pub async fn all(&self) -> Result<Vec<KioskDevice>, StorageError> {
        self.devices.all().await
    }

    pub async fn rename(&self, id: &str, name: &DeviceName) -> Result<bool, StorageError> {
        self.devices.rename(id, name.as_str()).await
    }

    pub async fn revoke(&self, id: &str) -> Result<bool, StorageError> {
        self.devices.revoke(id, now_ms()).await
    }
}

fn lifetime_ms() -> i64 {
    i64::try_from(PAIRING_LIFETIME.as_millis()).unwrap_or(i64::MAX)
}

/// 256 random bits, URL-safe.
fn new_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// What is stored of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `<device id>.<secret>`, of a plausible shape.
fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let plausible = id.len() == 36 && secret.len() == 43;
    plausible.then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_name_is_a_short_plain_line() {
        assert_eq!(
            DeviceName::parse("  Front counter ").unwrap().as_str(),
            "Front counter"
        );
        for bad in ["", "   ", "two\nlines", "tab\there", "rtl\u{202e}x"] {
            assert_eq!(DeviceName::parse(bad), None, "{bad:?}");
        }
        assert!(DeviceName::parse(&"x".repeat(NAME_MAX_CHARS)).is_some());
        assert!(DeviceName::parse(&"x".repeat(NAME_MAX_CHARS + 1)).is_none());
    }

    #[test]
    fn a_device_waits_while_its_link_is_open_then_is_paired_or_not() {
        let mut device = KioskDevice {
            id: "d".into(),
            name: "front".into(),
            created_at_ms: 0,
            pairing_expires_ms: Some(1_000),
            paired_at_ms: None,
            last_used_at_ms: None,
            last_signup_at_ms: None,
            revoked_at_ms: None,
        };
        assert_eq!(device.state(500), DeviceState::Waiting);
        assert_eq!(device.state(1_000), DeviceState::NotPaired);
        device.paired_at_ms = Some(700);
        device.pairing_expires_ms = None;
        assert_eq!(device.state(2_000), DeviceState::Paired);
        device.revoked_at_ms = Some(3_000);
        assert_eq!(device.state(4_000), DeviceState::Revoked);
        assert_eq!(device.source().as_str(), "kiosk:front");
    }

    #[test]
    fn tokens_of_another_shape_name_no_device() {
        assert_eq!(split("nothing"), None);
        assert_eq!(split("short.secret"), None);
        let id = random_uuid().to_string();
        let secret = new_secret();
        assert_eq!(
            split(&format!("{id}.{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
    }
}
