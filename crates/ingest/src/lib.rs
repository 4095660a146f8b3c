//! Pure decoding and normalization of telemetry payloads into Combray's span model.
//!
//! Nothing here does I/O, networking or storage. The server hands this crate a request body and
//! its headers' facts (content type, content encoding, size cap) and gets back a
//! [`combray_model::SpanBatch`] plus an account of any spans that were rejected, or an
//! [`IngestError`] that says precisely what was wrong with the payload.
//!
//! - [`body`]: content types, content encodings and capped decompression.
//! - [`otlp`]: OTLP/HTTP and OTLP/gRPC trace requests (protobuf and OTLP/JSON) and responses.
//! - [`honeycomb`]: Honeycomb's Events API bodies (libhoney, Beelines), JSON or [`msgpack`].
//! - [`status`]: the `google.rpc.Status` error body OTLP/HTTP prescribes.
//! - [`xray`]: AWS X-Ray daemon datagrams and segment documents.

pub mod body;

mod error;
pub mod honeycomb;
pub mod msgpack;
pub mod otlp;
pub mod status;
pub mod xray;

pub use error::IngestError;
