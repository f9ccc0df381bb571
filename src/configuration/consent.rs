//! What the consent ledger keeps: `CONSENT_IP`.

use crate::consent::IpRecording;

use super::reader::{Read, Reader};

#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentSettings {
    /// `CONSENT_IP`: the visitor's address with a consent, whole, truncated, or not kept.
    pub ip: IpRecording,
}

pub(super) fn read(env: &mut Reader<'_>) -> Read<ConsentSettings> {
    let ip = env.parsed("CONSENT_IP", "one of full, truncated or off");
    Ok(ConsentSettings {
        ip: ip?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use crate::consent::IpRecording;

    #[test]
    fn the_address_is_kept_truncated_unless_the_merchant_says_otherwise() {
        assert_eq!(settings(&[]).unwrap().consent.ip, IpRecording::Truncated);
        let full = settings(&[("CONSENT_IP", "full")]).unwrap();
        assert_eq!(full.consent.ip, IpRecording::Full);
        let wrong = settings(&[("CONSENT_IP", "partly")])
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("CONSENT_IP"), "{wrong}");
    }
}
