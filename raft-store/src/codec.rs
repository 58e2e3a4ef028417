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

/// Serde adapter that stores bytes as one MessagePack `bin` value.
///
/// Without it serde sees a sequence of integers, which rmp-serde writes as an array of up to
/// two bytes per element: snapshots would nearly double in size and decode byte by byte.
pub(crate) mod bin {
    use std::borrow::Cow;
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

    /// The bytes borrowed from the input when it holds them as one `bin` value (a snapshot
    /// is then decoded without a copy of its hundreds of MiB), else an owned copy.
    pub(crate) fn deserialize_borrowed<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Cow<'de, [u8]>, D::Error> {
        deserializer.deserialize_bytes(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Cow<'de, [u8]>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_vec()))
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }

        // Accepted so that a value written as an integer array still decodes.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(Cow::Owned(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob<'a> {
        name: String,
        #[serde(
            borrow,
            serialize_with = "bin::serialize",
            deserialize_with = "bin::deserialize_borrowed"
        )]
        data: Cow<'a, [u8]>,
    }

    #[test]
    fn round_trips_with_the_version_byte_first() {
        let blob = Blob {
            name: "a".into(),
            data: Cow::Owned(vec![0, 200, 255]),
        };
        let bytes = encode(&blob).expect("encode");
        assert_eq!(bytes[0], ENCODING_V1);
        assert_eq!(decode::<Blob>(&bytes).expect("decode"), blob);
    }

    #[test]
    fn bytes_are_stored_as_one_bin_value() {
        let blob = Blob {
            name: String::new(),
            data: Cow::Owned(vec![255; 1000]),
        };
        // An integer array would need two bytes per 255; bin needs one plus a small header.
        assert!(encode(&blob).expect("encode").len() < 1100);
    }

    /// [`Blob`] as it was written before the `bin` adapter: the bytes as an integer array.
    #[derive(Serialize)]
    struct ArrayBlob {
        name: String,
        data: Vec<u8>,
    }

    #[test]
    fn bin_values_decode_borrowed_and_integer_arrays_still_decode() {
        let bin = encode(&Blob {
            name: String::new(),
            data: Cow::Owned(vec![1, 2, 255]),
        })
        .expect("encode");
        let borrowed: Blob<'_> = decode(&bin).expect("decode");
        assert!(matches!(borrowed.data, Cow::Borrowed([1, 2, 255])));
        let array = encode(&ArrayBlob {
            name: String::new(),
            data: vec![1, 2, 255],
        })
        .expect("encode");
        let owned: Blob<'_> = decode(&array).expect("decode");
        assert!(matches!(owned.data, Cow::Owned(_)));
        assert_eq!(&*owned.data, &[1, 2, 255]);
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
