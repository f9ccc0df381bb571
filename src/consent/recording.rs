//! How a consent given with a signup, or a withdrawal or confirmation from a request, is
//! recorded: the `given` event with its words, and the evidence of who and where, the
//! visitor's address kept as `CONSENT_IP` says.

use std::net::IpAddr;

use super::{Actor, ConsentChannel, ConsentEvent, ConsentKind, Evidence, PersonKeys, Wording};

/// What the intake needs to record a consent given with a signup.
#[derive(Clone)]
pub struct ConsentRecording {
    pub keys: PersonKeys,
    /// `CONSENT_IP`
    pub ip: IpRecording,
}

/// The longest user agent kept: enough to tell browsers apart, and a bound on what a
/// client can make the ledger store.
const USER_AGENT_MAX_CHARS: usize = 512;

/// A consent given with a signup, as the visitor gave it.
pub struct Given<'a> {
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub channel: ConsentChannel,
    pub wording: Wording,
    /// `form`, `embed`, `api` or `kiosk`, with where the visitor came from
    /// (`form:counter`, `kiosk:front counter`: see `SourceTag::ledger_source`).
    pub source: String,
    pub form_id: Option<&'a str>,
    pub ip_address: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// Under double opt-in: counts once confirmed.
    pub needs_confirmation: bool,
}

impl ConsentRecording {
    /// The `given` event for `given`, with its evidence; the store names its submission.
    pub fn given(&self, given: Given<'_>) -> ConsentEvent {
        let person = self.keys.of(given.email);
        let mut event = ConsentEvent::now(person, ConsentKind::Given, Actor::Visitor)
            .on(given.channel)
            .from_source(&given.source);
        event.wording = Some(given.wording);
        event.form_id = given.form_id.map(str::to_owned);
        event.needs_confirmation = given.needs_confirmation;
        event.evidence =
            Some(self.evidence(given.email, given.phone, given.ip_address, given.user_agent));
        event
    }

    /// The evidence of an event about the person with `email`, from a request: its
    /// address as `CONSENT_IP` says, its user agent cut to a bound.
    pub fn evidence(
        &self,
        email: &str,
        phone: Option<&str>,
        ip_address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Evidence {
        Evidence {
            email: email.to_owned(),
            phone: phone.map(str::to_owned),
            ip_address: self.ip.keep(ip_address),
            user_agent: user_agent.map(|agent| agent.chars().take(USER_AGENT_MAX_CHARS).collect()),
        }
    }
}

/// `CONSENT_IP`: how much of the visitor's address a consent keeps as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpRecording {
    /// The whole address: the strongest evidence.
    Full,
    /// The network only: the first 24 bits of an IPv4 address, 48 of an IPv6 one. Enough
    /// to show where a consent came from, without naming one household's connection.
    #[default]
    Truncated,
    /// None at all.
    Off,
}

impl std::str::FromStr for IpRecording {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "full" => Ok(Self::Full),
            "truncated" => Ok(Self::Truncated),
            "off" => Ok(Self::Off),
            _ => Err(()),
        }
    }
}

impl IpRecording {
    /// The address as this setting keeps it.
    pub fn keep(self, address: Option<IpAddr>) -> Option<String> {
        let address = address?;
        match self {
            Self::Full => Some(address.to_string()),
            Self::Off => None,
            Self::Truncated => Some(match address {
                IpAddr::V4(v4) => {
                    let [a, b, c, _] = v4.octets();
                    format!("{a}.{b}.{c}.0/24")
                }
                IpAddr::V6(v6) => {
                    let mut segments = v6.segments();
                    segments[3..].fill(0);
                    format!("{}/48", std::net::Ipv6Addr::from(segments))
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_address_keeps_the_network_only() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        let v6: IpAddr = "2001:db8:abcd:12:1:2:3:4".parse().unwrap();
        assert_eq!(
            IpRecording::Truncated.keep(Some(v4)).unwrap(),
            "203.0.113.0/24"
        );
        assert_eq!(
            IpRecording::Truncated.keep(Some(v6)).unwrap(),
            "2001:db8:abcd::/48"
        );
        assert_eq!(IpRecording::Full.keep(Some(v4)).unwrap(), "203.0.113.77");
        assert_eq!(IpRecording::Off.keep(Some(v4)), None);
    }
}
