//! Content digests (`sha256:<hex>`): parsing, computing, and verifying bytes as they stream past.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;

/// A validated content digest such as `sha256:e8e5…`.
///
/// Only `sha256` and `sha512` are accepted and the hex part must be lowercase and of the right
/// length, so a digest can safely become a file name (`blobs/sha256/<hex>`): it never holds `/`
/// or `..`, whatever a registry or a layout claims.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
}

/// Why text is not a digest this tool accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    /// The text (its first 200 characters).
    pub input: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase only.
    pub fn parse(input: &str) -> Result<Self, DigestError> {
        let fail = |reason| DigestError {
            input: input.chars().take(200).collect(),
            reason,
        };
        let (algorithm, hex) = input
            .split_once(':')
            .ok_or_else(|| fail("expected ALGORITHM:HEX"))?;
        let want_len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(fail("unsupported algorithm (sha256 or sha512)")),
        };
        if hex.len() != want_len {
            return Err(fail("wrong length for its algorithm"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(fail("not lowercase hexadecimal"));
        }
        Ok(Self {
            text: input.to_string(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self {
            text: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        }
    }

    /// The digest a finished sha256 hasher computed.
    pub(crate) fn from_sha256(hasher: Sha256) -> Self {
        Self {
            text: format!("sha256:{}", hex::encode(hasher.finalize())),
        }
    }

    pub(crate) fn algorithm(&self) -> &str {
        self.text.split_once(':').map(|(a, _)| a).unwrap_or("")
    }

    pub(crate) fn hex(&self) -> &str {
        self.text.split_once(':').map(|(_, h)| h).unwrap_or("")
    }

    /// The digest as text, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let mut verifier = Verifier::new(self);
        verifier.update(bytes);
        verifier.finish() == *self
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Hashes bytes with the algorithm of an expected digest, for checking a stream as it passes.
pub struct Verifier {
    state: HashState,
}

enum HashState {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Verifier {
    /// A verifier that hashes with `expected`'s algorithm.
    pub fn new(expected: &Digest) -> Self {
        let state = if expected.algorithm() == "sha512" {
            HashState::Sha512(Sha512::new())
        } else {
            HashState::Sha256(Sha256::new())
        };
        Self { state }
    }

    /// Hashes the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            HashState::Sha256(h) => h.update(bytes),
            HashState::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of every byte passed to [`Verifier::update`].
    pub fn finish(self) -> Digest {
        let text = match self.state {
            HashState::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            HashState::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        };
        Digest { text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&good).unwrap().hex(), "a".repeat(64));
        for bad in [
            "sha256:../../x",
            "sha256:ABC",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("md5:{}", "a".repeat(32)),
            "nocolon",
            &format!("sha256:{}/", "a".repeat(63)),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn verifies_bytes() {
        let d = Digest::sha256_of(b"hello");
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hellO"));
    }
}
