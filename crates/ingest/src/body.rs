//! Content types, content encodings and decompression with a hard size cap.

use std::io::Read;

use crate::IngestError;

/// How an OTLP/HTTP body is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// Binary protobuf (`application/x-protobuf` or `application/protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

impl ContentType {
    /// Parses a `Content-Type` header value, ignoring parameters such as `charset`.
    pub fn parse(header: &str) -> Result<Self, IngestError> {
        let essence = header
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(IngestError::UnsupportedContentType(header.to_owned())),
        }
    }

    /// The header value Combray answers with.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// How an OTLP/HTTP body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// Not compressed.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), as HTTP's `deflate` is defined and Python sends it.
    Deflate,
    /// Zstandard.
    Zstd,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value; a missing header means identity.
    pub fn parse(header: Option<&str>) -> Result<Self, IngestError> {
        let Some(value) = header else {
            return Ok(Self::Identity);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" | "none" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "zstd" => Ok(Self::Zstd),
            _ => Err(IngestError::UnsupportedContentEncoding(value.to_owned())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }
}

/// Decompresses `body`, failing with [`IngestError::TooLarge`] as soon as the output would pass
/// `limit` bytes, so a small compression bomb can never allocate more than the cap.
pub fn decompress(
    encoding: ContentEncoding,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    decompress_within(encoding, body, limit, &mut |_| true)
}

/// Like [`decompress`], but asks `reserve` for every step of output memory before taking it
/// (steps start at 256 KiB and double): a server's memory budget is spent before the bytes
/// are, and a refusal ends the work with [`IngestError::OverBudget`] before anything more is
/// allocated.
pub fn decompress_within(
    encoding: ContentEncoding,
    body: &[u8],
    limit: usize,
    reserve: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, IngestError> {
    if body.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    match encoding {
        ContentEncoding::Identity => {
            if !reserve(body.len()) {
                return Err(IngestError::OverBudget);
            }
            Ok(body.to_vec())
        }
        ContentEncoding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(body),
            encoding,
            limit,
            reserve,
        ),
        ContentEncoding::Deflate => read_deflate(body, limit, reserve),
        ContentEncoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(|error| {
                IngestError::Decompress {
                    encoding: "zstd",
                    reason: error.to_string(),
                }
            })?;
            read_capped(decoder, encoding, limit, reserve)
        }
    }
}

/// HTTP's `deflate` is zlib-wrapped, but some clients send a raw deflate stream: accept both.
fn read_deflate(
    body: &[u8],
    limit: usize,
    reserve: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, IngestError> {
    let zlib = read_capped(
        flate2::read::ZlibDecoder::new(body),
        ContentEncoding::Deflate,
        limit,
        reserve,
    );
    match zlib {
        Err(IngestError::Decompress { .. }) => read_capped(
            flate2::read::DeflateDecoder::new(body),
            ContentEncoding::Deflate,
            limit,
            reserve,
        ),
        other => other,
    }
}

/// The first step of output memory a decompression reserves.
const FIRST_STEP: usize = 256 * 1024;

fn read_capped(
    reader: impl Read,
    encoding: ContentEncoding,
    limit: usize,
    reserve: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, IngestError> {
    let failed = |error: std::io::Error| IngestError::Decompress {
        encoding: encoding.name(),
        reason: error.to_string(),
    };
    // One byte past the limit tells "exactly the limit" from "more".
    let mut reader = reader.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1));
    // Each step fills a buffer of its own, allocated once at its reserved size: growing one
    // buffer instead would reallocate, and every reallocation briefly holds the old and the new
    // copy, memory the budget never saw.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    let mut step = FIRST_STEP.min(limit.saturating_add(1));
    loop {
        if !reserve(step) {
            return Err(IngestError::OverBudget);
        }
        let mut chunk = Vec::with_capacity(step);
        let read = (&mut reader)
            .take(step as u64)
            .read_to_end(&mut chunk)
            .map_err(failed)?;
        total += read;
        chunks.push(chunk);
        if total > limit {
            return Err(IngestError::TooLarge { limit });
        }
        if read < step {
            break;
        }
        step = step.saturating_mul(2).min(limit.saturating_add(1) - total);
    }
    if chunks.len() == 1 {
        return Ok(chunks.pop().unwrap_or_default());
    }
    // The joined copy is reserved too; the budget keeps it until the request ends.
    if !reserve(total) {
        return Err(IngestError::OverBudget);
    }
    let mut output = Vec::with_capacity(total);
    for chunk in chunks.drain(..) {
        output.extend_from_slice(&chunk);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert_eq!(
            ContentType::parse("application/json; charset=utf-8"),
            Ok(ContentType::Json)
        );
        assert_eq!(
            ContentType::parse("Application/X-Protobuf"),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(
            ContentType::parse("application/protobuf"),
            Ok(ContentType::Protobuf)
        );
        assert!(ContentType::parse("text/plain").is_err());
    }

    #[test]
    fn every_encoding_round_trips() {
        let data = b"spans spans spans".repeat(100);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        let cases = [
            (ContentEncoding::Identity, data.clone()),
            (ContentEncoding::Gzip, gzip(&data)),
            (ContentEncoding::Deflate, zlib.finish().unwrap()),
            (ContentEncoding::Deflate, raw.finish().unwrap()),
            (
                ContentEncoding::Zstd,
                zstd::encode_all(&data[..], 1).unwrap(),
            ),
        ];
        for (encoding, body) in cases {
            assert_eq!(
                decompress(encoding, &body, 1 << 20).unwrap(),
                data,
                "{encoding:?}"
            );
        }
    }

    #[test]
    fn the_cap_applies_after_decompression() {
        let bomb = gzip(&vec![0u8; 10_000]);
        assert!(bomb.len() < 1_000);
        assert_eq!(
            decompress(ContentEncoding::Gzip, &bomb, 1_000),
            Err(IngestError::TooLarge { limit: 1_000 })
        );
        assert!(decompress(ContentEncoding::Gzip, &bomb, 10_000).is_ok());
    }

    #[test]
    fn garbage_is_a_decompression_error() {
        let result = decompress(ContentEncoding::Gzip, b"not gzip at all", 1 << 20);
        assert!(matches!(
            result,
            Err(IngestError::Decompress {
                encoding: "gzip",
                ..
            })
        ));
        assert!(ContentEncoding::parse(Some("br")).is_err());
    }

    #[test]
    fn output_memory_is_reserved_before_it_is_taken_and_a_refusal_stops_at_once() {
        let data = vec![7u8; 3 << 20];
        for encoding in [ContentEncoding::Gzip, ContentEncoding::Zstd] {
            let body = match encoding {
                ContentEncoding::Gzip => gzip(&data),
                _ => zstd::encode_all(&data[..], 1).unwrap(),
            };
            let mut reserved = 0usize;
            let output = decompress_within(encoding, &body, 8 << 20, &mut |bytes| {
                reserved += bytes;
                true
            })
            .unwrap();
            assert_eq!(output, data);
            assert!(
                reserved >= output.capacity(),
                "{reserved} < {}",
                output.capacity()
            );
            // The steps (at most twice the output, plus the first) and the joined copy.
            assert!(reserved < 3 * data.len() + 2 * FIRST_STEP, "{reserved}");

            // A budget of 1 MiB: refused before the output passes what was granted.
            let mut granted = 0usize;
            let refused = decompress_within(encoding, &body, 8 << 20, &mut |bytes| {
                if granted + bytes > 1 << 20 {
                    return false;
                }
                granted += bytes;
                true
            });
            assert!(
                matches!(refused, Err(IngestError::OverBudget)),
                "{refused:?}"
            );
            assert!(granted <= 1 << 20);
        }
    }
}
