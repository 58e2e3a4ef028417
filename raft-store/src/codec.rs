//! The value encoding shared by every column family.
//!
//! Each stored value is one encoding-version byte followed by MessagePack with named fields
//! (rmp-serde). The version byte lets a later release change the encoding of one value type
//! without a whole-database migration, and named fields let structs gain optional fields
//! without breaking older data. Keys are not encoded here: log keys are big-endian indexes so
//! that RocksDB's byte order is log order.

use serde::{Deserialize, Serialize};

/// The only value encoding this build writes and reads: MessagePack with named fields.
pub(crate) const ENCODING_V1: u8 = 1;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value was empty: not even the encoding-version byte is there.
    #[error("empty value: the encoding-version byte is missing")]
    Empty,
    /// The value was written with an encoding this build does not know.
    #[error("unknown value encoding {0}, this build reads encoding {ENCODING_V1}")]
    UnknownEncoding(u8),
    /// rmp-serde refused to encode the value.
    #[error("MessagePack encoding failed: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// The bytes are not a valid MessagePack value of the expected type.
    #[error("MessagePack decoding failed: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

/// Encodes `value` as the version byte followed by named-field MessagePack.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut buf = vec![ENCODING_V1];
    rmp_serde::encode::write_named(&mut buf, value)?;
    Ok(buf)
}

/// Decodes a value written by [`encode`], refusing encodings this build does not know. The
/// value may borrow byte strings from `bytes` instead of copying them.
pub(crate) fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&ENCODING_V1, rest)) => Ok(rmp_serde::from_slice(rest)?),
        Some((&other, _)) => Err(CodecError::UnknownEncoding(other)),
    }
}

/// Serde adapter that stores a `Vec<u8>` as one MessagePack `bin` value.
///
/// Without it serde sees a sequence of integers, which rmp-serde writes as an array of up to
/// two bytes per element: snapshots would nearly double in size and decode byte by byte.
pub(crate) mod bin {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<T, S>(bytes: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: AsRef<[u8]> + ?Sized,
        S: Serializer,
    {
        serializer.serialize_bytes(bytes.as_ref())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        // Accepted so that a value written as an integer array still decodes.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob {
        name: String,
        #[serde(with = "bin")]
        data: Vec<u8>,
    }

    #[test]
    fn round_trips_with_the_version_byte_first() {
        let blob = Blob {
            name: "a".into(),
            data: vec![0, 200, 255],
        };
        let bytes = encode(&blob).expect("encode");
        assert_eq!(bytes[0], ENCODING_V1);
        assert_eq!(decode::<Blob>(&bytes).expect("decode"), blob);
    }

    #[test]
    fn bytes_are_stored_as_one_bin_value() {
        let blob = Blob {
            name: String::new(),
            data: vec![255; 1000],
        };
        // An integer array would need two bytes per 255; bin needs one plus a small header.
        assert!(encode(&blob).expect("encode").len() < 1100);
    }

    #[test]
    fn refuses_unknown_encodings_and_empty_values() {
        assert!(matches!(decode::<u32>(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode::<u32>(&[9, 1]),
            Err(CodecError::UnknownEncoding(9))
        ));
    }
}
