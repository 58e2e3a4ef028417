//! Encoding of everything a member sends to a peer or writes into a snapshot: one version
//! byte, then MessagePack with named fields. The version byte lets a later release read older
//! data or refuse newer data with a clear error instead of misreading it.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The encoding version this build writes and reads.
pub const ENCODING_VERSION: u8 = 1;

/// A payload that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty payload: expected a version byte")]
    Empty,
    #[error("payload encoding version {found} is not supported (this build reads {ENCODING_VERSION}): upgrade every member to the same release")]
    Version { found: u8 },
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        source: rmp_serde::decode::Error,
    },
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: rmp_serde::encode::Error,
    },
}

/// Encodes `value`; `what` names it in errors.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![ENCODING_VERSION];
    rmp_serde::encode::write_named(&mut out, value)
        .map_err(|source| CodecError::Encode { what, source })?;
    Ok(out)
}

/// The length of what [`encode`] would return for `value`, without building it.
pub fn encoded_len<T: Serialize>(what: &'static str, value: &T) -> Result<usize, CodecError> {
    let mut counter = Counter(1);
    rmp_serde::encode::write_named(&mut counter, value)
        .map_err(|source| CodecError::Encode { what, source })?;
    Ok(counter.0)
}

/// A writer that only counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes a payload written by [`encode`].
pub fn decode<T: DeserializeOwned>(what: &'static str, data: &[u8]) -> Result<T, CodecError> {
    match data.split_first() {
        None => Err(CodecError::Empty),
        Some((&ENCODING_VERSION, rest)) => {
            rmp_serde::from_slice(rest).map_err(|source| CodecError::Decode { what, source })
        }
        Some((&found, _)) => Err(CodecError::Version { found }),
    }
}

#[cfg(test)]
#[path = "tests/codec_unit.rs"]
mod tests;
