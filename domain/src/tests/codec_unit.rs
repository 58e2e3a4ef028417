//! Unit tests of `codec.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn round_trips_and_rejects_other_versions() {
    let data = encode("test", &("a".to_string(), 7u64)).unwrap();
    let back: (String, u64) = decode("test", &data).unwrap();
    assert_eq!(back, ("a".to_string(), 7));

    let mut future = data.clone();
    future[0] = ENCODING_VERSION + 1;
    assert!(matches!(
        decode::<(String, u64)>("test", &future),
        Err(CodecError::Version { .. })
    ));
    assert!(matches!(
        decode::<(String, u64)>("test", &[]),
        Err(CodecError::Empty)
    ));
    assert!(matches!(
        decode::<(String, u64)>("test", &[ENCODING_VERSION, 0xc1]),
        Err(CodecError::Decode { .. })
    ));
}

#[test]
fn encoded_len_is_the_length_of_the_encoding() -> Result<(), CodecError> {
    for value in [
        (String::new(), 0u64),
        ("a".to_string(), 7),
        ("x".repeat(70_000), u64::MAX),
    ] {
        let data = encode("test", &value)?;
        assert_eq!(encoded_len("test", &value)?, data.len());
    }
    Ok(())
}
