//! [`Value`]: a variable's bytes as text when they are UTF-8 and as base64 otherwise, with
//! the machine formats saying which, so a program can always get the exact bytes back.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Serialize;

use super::cells::escape_controls;

/// Marks a base64-encoded value in a table cell.
pub const BASE64_MARKER: &str = "base64:";

/// How a value is written in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The value is valid UTF-8 and is shown as is.
    Utf8,
    /// The value is not UTF-8 and is shown base64-encoded (standard alphabet, padded).
    Base64,
}

/// A value ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    pub value: String,
    pub value_encoding: Encoding,
}

impl Value {
    /// UTF-8 text when the bytes are valid UTF-8, else base64.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        match std::str::from_utf8(bytes) {
            Ok(text) => Value {
                value: text.to_string(),
                value_encoding: Encoding::Utf8,
            },
            Err(_) => Value {
                value: BASE64.encode(bytes),
                value_encoding: Encoding::Base64,
            },
        }
    }

    /// The value in a table cell: text with control characters escaped, or
    /// `base64:` followed by the encoding.
    pub fn cell(&self) -> String {
        match self.value_encoding {
            Encoding::Utf8 => escape_controls(&self.value),
            Encoding::Base64 => format!("{BASE64_MARKER}{}", self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_utf8_or_base64() {
        let v = Value::from_bytes("héllo".as_bytes());
        assert_eq!(v.value_encoding, Encoding::Utf8);
        assert_eq!(v.value, "héllo");
        assert_eq!(v.cell(), "héllo");

        let v = Value::from_bytes(&[0xff, 0x00, 0x01]);
        assert_eq!(v.value_encoding, Encoding::Base64);
        assert_eq!(v.value, "/wAB");
        assert_eq!(v.cell(), "base64:/wAB");

        let v = Value::from_bytes(b"");
        assert_eq!((v.value.as_str(), v.value_encoding), ("", Encoding::Utf8));

        // Valid UTF-8 with an escape sequence: kept as is for programs, defused in tables.
        let v = Value::from_bytes(b"a\x1b[2Jb\nc");
        assert_eq!(v.value_encoding, Encoding::Utf8);
        assert_eq!(v.cell(), "a\\u{1b}[2Jb\nc");
    }
}
