//! Discord's request signatures: Ed25519 over `X-Signature-Timestamp` ‖ raw body.
//!
//! [`verify`] is what the endpoint runs before it looks at a single byte of
//! the body; [`sign`] is its mirror for clients (`mandala load`,
//! `mandala interact`, tests) that play Discord.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use http::HeaderMap;

/// The header carrying the hex signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the decimal Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Signs `timestamp ‖ body` and returns the hex signature (the value of
/// `X-Signature-Ed25519`; `timestamp` is the value of `X-Signature-Timestamp`).
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// Why a request is not from Discord. Every variant is answered with 401
/// and nothing else, so the reasons are for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Signature-Ed25519 header")]
    MissingSignature,
    #[error("missing X-Signature-Timestamp header")]
    MissingTimestamp,
    #[error("signature is not 128 hex digits")]
    MalformedSignature,
    #[error("timestamp is not a decimal number of seconds")]
    MalformedTimestamp,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("a small-order (weak) Ed25519 key, which no real application has")]
    WeakKey,
    #[error("timestamp is {0} s away from now, outside the allowed window")]
    Stale(i64),
}

/// The application's public key, known not to be one of the small-order
/// ("weak") points under which forgeries verify. Checked once, here, so
/// [`SignatureHeaders::verify`] need not check it on every request.
#[derive(Debug, Clone, Copy)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn new(key: VerifyingKey) -> Result<PublicKey, SignatureError> {
        if key.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        Ok(PublicKey(key))
    }
}

/// The two signature headers, checked for presence and shape.
#[derive(Debug, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    pub timestamp: &'a str,
    signature: [u8; 64],
}

impl<'a> SignatureHeaders<'a> {
    /// Reads both headers; anything missing or malformed is an error.
    pub fn from_headers(headers: &'a HeaderMap) -> Result<Self, SignatureError> {
        let signature = headers
            .get(SIGNATURE_HEADER)
            .ok_or(SignatureError::MissingSignature)?
            .to_str()
            .map_err(|_| SignatureError::MalformedSignature)?;
        let timestamp = headers
            .get(TIMESTAMP_HEADER)
            .ok_or(SignatureError::MissingTimestamp)?
            .to_str()
            .map_err(|_| SignatureError::MalformedTimestamp)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature.trim(), &mut bytes)
            .map_err(|_| SignatureError::MalformedSignature)?;
        if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignatureError::MalformedTimestamp);
        }
        Ok(SignatureHeaders {
            timestamp,
            signature: bytes,
        })
    }

    /// Checks the signature over `timestamp ‖ body`.
    ///
    /// This is RFC 8032's check (canonical `S`, cofactorless equation), not
    /// dalek's `verify_strict`, which also decompresses `R` to refuse
    /// small-order points and costs a fifth more. Those extra refusals guard
    /// against a signer who picked a weak public key, or against relying
    /// on signature bytes being unique; here the key is Discord's and a weak
    /// one is refused (at startup and below), and replays are recognised by
    /// interaction id, so nothing depends on the signature's encoding. With
    /// a key of prime order, a small-order `R` cannot satisfy the equation
    /// without the secret key.
    pub fn verify(&self, key: &PublicKey, body: &[u8]) -> Result<(), SignatureError> {
        let mut message = Vec::with_capacity(self.timestamp.len() + body.len());
        message.extend_from_slice(self.timestamp.as_bytes());
        message.extend_from_slice(body);
        key.0
            .verify(&message, &Signature::from_bytes(&self.signature))
            .map_err(|_| SignatureError::Mismatch)
    }

    /// Checks the timestamp is within `max_age_secs` of `now_secs`, in
    /// either direction; `0` turns the check off.
    pub fn check_age(&self, now_secs: i64, max_age_secs: u64) -> Result<(), SignatureError> {
        if max_age_secs == 0 {
            return Ok(());
        }
        // Digits only, checked above; an absurdly long number is simply stale.
        let ts: i64 = self.timestamp.parse().unwrap_or(i64::MAX);
        let skew = now_secs.saturating_sub(ts);
        if skew.unsigned_abs() > max_age_secs {
            return Err(SignatureError::Stale(skew));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn public(k: &SigningKey) -> PublicKey {
        PublicKey::new(k.verifying_key()).unwrap()
    }

    fn headers(sig: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h.insert(TIMESTAMP_HEADER, ts.parse().unwrap());
        h
    }

    #[test]
    fn sign_then_verify() {
        let k = key();
        let sig = sign(&k, "1700000000", b"{\"type\":1}");
        let h = headers(&sig, "1700000000");
        let parsed = SignatureHeaders::from_headers(&h).unwrap();
        parsed.verify(&public(&k), b"{\"type\":1}").unwrap();
        assert_eq!(
            parsed.verify(&public(&k), b"{\"type\":2}"),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is part of what is signed.
        let h = headers(&sig, "1700000001");
        assert_eq!(
            SignatureHeaders::from_headers(&h)
                .unwrap()
                .verify(&public(&k), b"{\"type\":1}"),
            Err(SignatureError::Mismatch)
        );
    }

    /// The identity point's encoding: the simplest small-order key.
    const IDENTITY: [u8; 32] = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };

    #[test]
    fn forgeries_that_need_no_secret_key_fail() {
        // R = identity, S = 0 satisfies the cofactorless equation for any
        // message under the identity key; such a key is refused.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&IDENTITY);
        let weak = VerifyingKey::from_bytes(&IDENTITY).unwrap();
        assert!(
            weak.verify(b"1700000000{}", &Signature::from_bytes(&forged))
                .is_ok(),
            "the forgery the refusal exists for"
        );
        assert_eq!(PublicKey::new(weak).unwrap_err(), SignatureError::WeakKey);
        // The same small-order R against a real key does not verify.
        let h = headers(&hex::encode(forged), "1700000000");
        let parsed = SignatureHeaders::from_headers(&h).unwrap();
        assert_eq!(
            parsed.verify(&public(&key()), b"{\"type\":1}"),
            Err(SignatureError::Mismatch)
        );
        // Nor does a valid signature made malleable by adding the group
        // order to S.
        let valid = hex::decode(sign(&key(), "1700000000", b"{}")).unwrap();
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut malleated = valid.clone();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(valid[32 + i]) + u16::from(order[i]) + carry;
            malleated[32 + i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        let h = headers(&hex::encode(&valid), "1700000000");
        let ok = SignatureHeaders::from_headers(&h).unwrap();
        assert_eq!(ok.verify(&public(&key()), b"{}"), Ok(()));
        let h = headers(&hex::encode(&malleated), "1700000000");
        let bad = SignatureHeaders::from_headers(&h).unwrap();
        assert_eq!(
            bad.verify(&public(&key()), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        let good = sign(&key(), "1", b"");
        assert_eq!(
            SignatureHeaders::from_headers(&HeaderMap::new()).unwrap_err(),
            SignatureError::MissingSignature
        );
        let mut only_sig = HeaderMap::new();
        only_sig.insert(SIGNATURE_HEADER, good.parse().unwrap());
        assert_eq!(
            SignatureHeaders::from_headers(&only_sig).unwrap_err(),
            SignatureError::MissingTimestamp
        );
        for bad in [
            "zz",
            &good[..126],
            &format!("{good}00"),
            &format!("g{}", &good[1..]),
        ] {
            assert_eq!(
                SignatureHeaders::from_headers(&headers(bad, "1")).unwrap_err(),
                SignatureError::MalformedSignature,
                "{bad}"
            );
        }
        for bad in ["", "-1", "1.5", "12a"] {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, good.parse().unwrap());
            h.insert(TIMESTAMP_HEADER, bad.parse().unwrap());
            assert_eq!(
                SignatureHeaders::from_headers(&h).unwrap_err(),
                SignatureError::MalformedTimestamp,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn age_window_is_symmetric_and_can_be_off() {
        let sig = sign(&key(), "1000", b"");
        let h = headers(&sig, "1000");
        let p = SignatureHeaders::from_headers(&h).unwrap();
        assert!(p.check_age(1060, 60).is_ok());
        assert!(p.check_age(940, 60).is_ok());
        assert_eq!(p.check_age(1061, 60), Err(SignatureError::Stale(61)));
        assert_eq!(p.check_age(939, 60), Err(SignatureError::Stale(-61)));
        assert!(p.check_age(1_000_000, 0).is_ok());
        let h = headers(&sig, "99999999999999999999999");
        let p = SignatureHeaders::from_headers(&h).unwrap();
        assert!(p.check_age(1000, 60).is_err());
    }
}
