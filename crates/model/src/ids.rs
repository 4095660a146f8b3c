//! Trace and span identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier could not be built from bytes or text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier had the wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes the identifier must have.
        expected: usize,
        /// Bytes that were given.
        actual: usize,
    },
    /// Every byte was zero, which OTLP and W3C define as invalid.
    #[error("identifier is all zeroes")]
    AllZero,
    /// The text was not hexadecimal.
    #[error("identifier is not hexadecimal")]
    NotHex,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Number of bytes in this identifier.
            pub const LEN: usize = $len;

            /// Builds an identifier from raw bytes, rejecting wrong lengths and all zeroes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let array: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    expected: $len,
                    actual: bytes.len(),
                })?;
                if array == [0; $len] {
                    return Err(IdError::AllZero);
                }
                Ok(Self(array))
            }

            /// Wraps raw bytes without validation (for ids read back from storage).
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lower-case hexadecimal, as OTLP/JSON and W3C `traceparent` spell it.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Parses case-insensitive hexadecimal of exactly the right length.
            fn from_str(text: &str) -> Result<Self, IdError> {
                if text.len() != $len * 2 {
                    return Err(IdError::WrongLength { expected: $len, actual: text.len() / 2 });
                }
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|_| IdError::NotHex)?;
                Self::from_slice(&bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

define_id!(
    /// A 128-bit trace identifier, shared by every span of one trace.
    TraceId,
    16
);
define_id!(
    /// A 64-bit span identifier, unique within its trace.
    SpanId,
    8
);

/// The first half of every trace id Combray gives an event sent without one (a Honeycomb event
/// with no `trace.trace_id`): four zero bytes, which no X-Ray id has (its epoch comes first),
/// then `evnt`. A random W3C id starts so with probability 2⁻⁶⁴.
const UNTRACED_EVENT_PREFIX: [u8; 8] = [0, 0, 0, 0, b'e', b'v', b'n', b't'];

/// [`UNTRACED_EVENT_PREFIX`] as the start of an id's hex, for readers that see ids as text.
pub const UNTRACED_EVENT_HEX_PREFIX: &str = "0000000065766e74";

impl TraceId {
    /// The id of an event that belongs to no trace: the reserved prefix, then `random`. Such
    /// ids keep the event queryable as a span while trace listings leave it out.
    pub fn for_untraced_event(random: [u8; 8]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&UNTRACED_EVENT_PREFIX);
        bytes[8..].copy_from_slice(&random);
        Self(bytes)
    }

    /// Whether this id was made by [`TraceId::for_untraced_event`].
    pub fn is_untraced_event(&self) -> bool {
        self.0[..8] == UNTRACED_EVENT_PREFIX
    }

    /// Reads the X-Ray form, `1-5759e988-bd862e3fe1be46a994272793` (version, the 8-hex epoch
    /// seconds, 24 hex of random): the same 128 bits, the epoch first.
    pub fn from_xray(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("1-")?;
        let (epoch, random) = rest.split_once('-')?;
        if epoch.len() != 8 || random.len() != 24 {
            return None;
        }
        // Decoded in place: ingest runs this for every document.
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(epoch, &mut bytes[..4]).ok()?;
        hex::decode_to_slice(random, &mut bytes[4..]).ok()?;
        // `from_slice` refuses the all-zero id, as OTLP does.
        Self::from_slice(&bytes).ok()
    }

    /// The X-Ray form of the id.
    pub fn to_xray(&self) -> String {
        let hex = self.to_hex();
        format!("1-{}-{}", &hex[..8], &hex[8..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_map_both_ways() {
        let id = TraceId::from_xray("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(id.to_hex(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(id.to_xray(), "1-5759e988-bd862e3fe1be46a994272793");
        for bad in [
            "5759e988bd862e3fe1be46a994272793",
            "1-5759e98-bd862e3fe1be46a994272793",
            "1-5759e988-zz862e3fe1be46a994272793",
            "2-5759e988-bd862e3fe1be46a994272793",
            "1-00000000-000000000000000000000000",
        ] {
            assert!(TraceId::from_xray(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn untraced_event_ids_are_recognised_and_no_xray_id_is_one() {
        let id = TraceId::for_untraced_event([7; 8]);
        assert!(id.is_untraced_event());
        assert!(id.to_hex().starts_with(UNTRACED_EVENT_HEX_PREFIX));
        assert!(!TraceId::from_xray("1-5759e988-bd862e3fe1be46a994272793")
            .unwrap()
            .is_untraced_event());
        let w3c: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
        assert!(!w3c.is_untraced_event());
    }

    #[test]
    fn parses_hex_in_either_case() {
        let lower: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
        let upper: TraceId = "5B8EFFF798038103D269B633813FC60C".parse().unwrap();
        assert_eq!(lower, upper);
        assert_eq!(lower.to_hex(), "5b8efff798038103d269b633813fc60c");
    }

    #[test]
    fn rejects_zero_wrong_length_and_non_hex() {
        assert_eq!(SpanId::from_slice(&[0; 8]), Err(IdError::AllZero));
        assert_eq!(
            SpanId::from_slice(&[1; 7]),
            Err(IdError::WrongLength {
                expected: 8,
                actual: 7
            })
        );
        assert_eq!("zz".repeat(8).parse::<SpanId>(), Err(IdError::NotHex));
        assert!("abc".parse::<TraceId>().is_err());
    }
}
