//! AWS X-Ray segment documents, as the X-Ray SDKs send them to the daemon's UDP port and the
//! daemon forwards them in `PutTraceSegments`.
//!
//! - [`split_datagram`]: the daemon's wire format, `{"format":"json","version":1}\n<document>`.
//! - [`parse_document`]: one document, validated; an invalid one gets the error code and message
//!   `UnprocessedTraceSegments` carries, so the rest of a batch is still kept.
//! - [`Document::spans`]: a segment and every embedded subsegment as spans of the unified model,
//!   so X-Ray services answer every query OTLP services do.
//!
//! - [`Assembler`]: holds streamed subsegments until their service is known, and in-progress
//!   documents until their complete version replaces them.
//!
//! Trace ids map `1-5759e988-bd862e3fe1be46a994272793` ↔ the 128-bit id
//! `5759e988bd862e3fe1be46a994272793`, as the OpenTelemetry X-Ray propagator does, so a request
//! that crosses an OpenTelemetry service and an X-Ray one is one trace.

mod assemble;
mod convert;
mod document;
mod segment;

pub use assemble::{
    group_spans, Assembler, AssemblerCounts, Owner, Pushed, ResolvedSpan, UNRESOLVED_SERVICE,
};
pub use document::{parse_document, Document, DocumentError};

/// Most bytes one document may have (the X-Ray segment document limit).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Why a datagram is not a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// No newline, or nothing after it.
    #[error("missing header or segment")]
    Missing,
    /// The header is not `{"format":"json","version":1}`.
    #[error("invalid header: {0}")]
    Header(String),
}

/// Splits a daemon datagram at its first newline and checks the header, as the daemon does:
/// `format` is `json` (any case) and `version` is 1; spaces inside the header are fine.
pub fn split_datagram(datagram: &[u8]) -> Result<&[u8], DatagramError> {
    let newline = datagram
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(DatagramError::Missing)?;
    let (header, body) = (&datagram[..newline], &datagram[newline + 1..]);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DatagramError::Missing);
    }
    #[derive(serde::Deserialize)]
    struct Header {
        format: String,
        version: i64,
    }
    let parsed: Header =
        serde_json::from_slice(header).map_err(|e| DatagramError::Header(format!("{e}")))?;
    if !parsed.format.eq_ignore_ascii_case("json") || parsed.version != 1 {
        return Err(DatagramError::Header(format!(
            "format {:?} version {} (want json and 1)",
            parsed.format, parsed.version
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
