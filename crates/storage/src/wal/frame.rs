//! Segment headers and length + CRC framed records (format in `docs/formats/wal-v1.md`).

/// First bytes of every WAL segment.
pub(crate) const MAGIC: &[u8; 8] = b"CMBRYWAL";
/// The format version this code writes.
pub(crate) const VERSION: u32 = 1;
/// Bytes in a segment header: magic, version, reserved.
pub(crate) const HEADER_LEN: usize = 16;
/// Bytes before each record's payload: length and CRC.
pub(crate) const RECORD_PREFIX_LEN: usize = 8;
/// Largest payload a record may carry; a larger length field can only be corruption.
pub(crate) const MAX_RECORD_LEN: usize = 512 * 1024 * 1024;

/// The 16-byte header that starts a segment.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
    bytes
}

/// Why a segment header was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Fewer than 16 bytes: the segment was being created when the process died.
    Torn,
    /// Not a Combray WAL segment.
    BadMagic,
    /// Written by a newer Combray.
    UnsupportedVersion(u32),
}

pub(crate) fn check_header(bytes: &[u8]) -> Result<(), HeaderProblem> {
    if bytes.len() < HEADER_LEN {
        return Err(HeaderProblem::Torn);
    }
    if &bytes[..8] != MAGIC {
        return Err(HeaderProblem::BadMagic);
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(HeaderProblem::UnsupportedVersion(version));
    }
    Ok(())
}

/// Appends one framed record: `len: u32 LE`, `crc: u32 LE` over the length bytes and payload,
/// then the payload.
pub(crate) fn encode_record(output: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    let length = (payload.len() as u32).to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&length);
    hasher.update(payload);
    output.extend_from_slice(&length);
    output.extend_from_slice(&hasher.finalize().to_le_bytes());
    output.extend_from_slice(payload);
}

/// The outcome of reading the record that starts at some offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A complete, intact record and the offset just past it.
    Record {
        payload: &'a [u8],
        next_offset: usize,
    },
    /// Clean end of the segment.
    End,
    /// The bytes stop inside a record: a write the process did not finish.
    Torn,
    /// The bytes are all there but do not check out.
    Corrupt(&'static str),
}

pub(crate) fn decode_record(segment: &[u8], offset: usize) -> Decoded<'_> {
    let rest = &segment[offset..];
    if rest.is_empty() {
        return Decoded::End;
    }
    if rest.len() < RECORD_PREFIX_LEN {
        return Decoded::Torn;
    }
    let length_bytes = [rest[0], rest[1], rest[2], rest[3]];
    let length = u32::from_le_bytes(length_bytes) as usize;
    let stored_crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if length > MAX_RECORD_LEN {
        return Decoded::Corrupt("record length is larger than any record Combray writes");
    }
    let Some(payload) = rest.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + length) else {
        return Decoded::Torn;
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&length_bytes);
    hasher.update(payload);
    if hasher.finalize() != stored_crc {
        return Decoded::Corrupt("record checksum does not match");
    }
    Decoded::Record {
        payload,
        next_offset: offset + RECORD_PREFIX_LEN + length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_classified() {
        let mut segment = header().to_vec();
        encode_record(&mut segment, b"first");
        encode_record(&mut segment, b"second");
        assert_eq!(check_header(&segment), Ok(()));
        let Decoded::Record {
            payload,
            next_offset,
        } = decode_record(&segment, HEADER_LEN)
        else {
            panic!("first record must decode");
        };
        assert_eq!(payload, b"first");
        let Decoded::Record {
            payload,
            next_offset: end,
        } = decode_record(&segment, next_offset)
        else {
            panic!("second record must decode");
        };
        assert_eq!(payload, b"second");
        assert_eq!(decode_record(&segment, end), Decoded::End);

        assert_eq!(
            decode_record(&segment[..end - 1], next_offset),
            Decoded::Torn
        );
        assert_eq!(
            decode_record(&segment[..next_offset + 3], next_offset),
            Decoded::Torn
        );
        let mut flipped = segment.clone();
        flipped[end - 1] ^= 0x40;
        assert!(matches!(
            decode_record(&flipped, next_offset),
            Decoded::Corrupt(_)
        ));
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(check_header(b"CMBRY"), Err(HeaderProblem::Torn));
        assert_eq!(check_header(&[7u8; 16]), Err(HeaderProblem::BadMagic));
        let mut future = header();
        future[8] = 9;
        assert_eq!(
            check_header(&future),
            Err(HeaderProblem::UnsupportedVersion(9))
        );
    }
}
