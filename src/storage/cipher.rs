//! Authenticated encryption of the credentials kept in the database, so that a copy of
//! the file (a backup, a volume snapshot) does not hand over the merchant's Clover access.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

/// XChaCha20-Poly1305: its 192-bit nonces can be drawn at random without fear of repeats.
const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretCipher {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
#[error("a stored credential could not be decrypted: SECRET_KEY changed, or the data was altered")]
pub struct DecryptError;

impl SecretCipher {
    /// Derives the encryption key from `SECRET_KEY`, separated from its other uses (it also
    /// signs sessions) by an HMAC with a fixed label.
    pub fn from_secret_key(secret_key: &SecretSlice<u8>) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret_key.expose_secret())
            .expect("HMAC takes any key");
        mac.update(b"clover-signup credential encryption v1");
        let key = mac.finalize().into_bytes();
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// Encrypts `secret`, bound to `purpose` (such as the column it goes into), so that a
    /// value moved to another column does not decrypt.
    pub fn seal(&self, purpose: &str, secret: &SecretString) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: secret.expose_secret().as_bytes(),
            aad: purpose.as_bytes(),
        };
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.cipher
                .encrypt(&nonce, payload)
                .expect("encryption of a short string cannot fail"),
        );
        sealed
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<SecretString, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: purpose.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> SecretCipher {
        SecretCipher::from_secret_key(&vec![byte; 32].into())
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_key_and_purpose_only() {
        let secret = SecretString::from("access-token-123");
        let sealed = cipher(1).seal("access_token", &secret);
        assert_eq!(
            cipher(1)
                .open("access_token", &sealed)
                .unwrap()
                .expose_secret(),
            "access-token-123"
        );
        assert!(cipher(2).open("access_token", &sealed).is_err());
        assert!(cipher(1).open("refresh_token", &sealed).is_err());
    }

    #[test]
    fn the_plain_text_appears_nowhere_in_the_sealed_bytes() {
        let sealed = cipher(1).seal("x", &SecretString::from("find-me-if-you-can"));
        assert!(!sealed.windows(10).any(|w| w == b"find-me-if"));
    }

    #[test]
    fn altered_bytes_are_refused() {
        let mut sealed = cipher(1).seal("x", &SecretString::from("value"));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(cipher(1).open("x", &sealed).is_err());
    }
}
