//! The digests `moor-agent` reports: sha256 in lower-case hex, streamed for large inputs, and
//! the prefixes that say what a drifted digest was taken of.

use sha2::{Digest, Sha256};

/// Prefix of the digest Observe reports for a file whose content is not what the agent wrote.
pub const FILE_DRIFT_PREFIX: &str = "file-sha256:";

/// Prefix of the digest Observe reports for a command whose observe output changed.
pub const COMMAND_DRIFT_PREFIX: &str = "command-sha256:";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The sha256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A sha256 fed piece by piece (a file read in chunks, a command's output as it arrives).
#[derive(Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest, in hex.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut s = Sha256Stream::default();
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(s.finish(), sha256_hex(b"abc"));
    }
}
