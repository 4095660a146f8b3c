//! The ingest crate's error type.

/// Why a payload could not be taken in. Every variant is the client's fault and maps to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The `Content-Type` is not one this endpoint decodes.
    #[error("unsupported content type {0:?}: use application/x-protobuf, application/protobuf or application/json")]
    UnsupportedContentType(String),
    /// The `Content-Encoding` is not one Combray decompresses.
    #[error("unsupported content encoding {0:?}: use identity, gzip, deflate or zstd")]
    UnsupportedContentEncoding(String),
    /// The body, before or after decompression, is larger than the configured cap.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The body claims a compression it does not have, or is truncated.
    #[error("cannot decompress {encoding} body: {reason}")]
    Decompress {
        /// The declared encoding.
        encoding: &'static str,
        /// What the decompressor said.
        reason: String,
    },
    /// The server's memory budget could not hold the decompressed body; retry later.
    #[error("Combray is at its ingest memory limit; retry shortly")]
    OverBudget,
    /// The body is not a valid message of the expected type.
    #[error("cannot decode OTLP {format} request: {reason}")]
    Decode {
        /// `protobuf` or `JSON`.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
}
