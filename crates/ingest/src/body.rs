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
    if body.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    match encoding {
        ContentEncoding::Identity => Ok(body.to_vec()),
        ContentEncoding::Gzip => {
            read_capped(flate2::read::MultiGzDecoder::new(body), encoding, limit)
        }
        ContentEncoding::Deflate => read_deflate(body, limit),
        ContentEncoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(|error| {
                IngestError::Decompress {
                    encoding: "zstd",
                    reason: error.to_string(),
                }
            })?;
            read_capped(decoder, encoding, limit)
        }
    }
}

/// HTTP's `deflate` is zlib-wrapped, but some clients send a raw deflate stream: accept both.
fn read_deflate(body: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let zlib = read_capped(
        flate2::read::ZlibDecoder::new(body),
        ContentEncoding::Deflate,
        limit,
    );
    match zlib {
        Err(IngestError::Decompress { .. }) => read_capped(
            flate2::read::DeflateDecoder::new(body),
            ContentEncoding::Deflate,
            limit,
        ),
        other => other,
    }
}

fn read_capped(
    reader: impl Read,
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let mut output = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut output)
        .map_err(|error| IngestError::Decompress {
            encoding: encoding.name(),
            reason: error.to_string(),
        })?;
    if output.len() > limit {
        return Err(IngestError::TooLarge { limit });
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
}
