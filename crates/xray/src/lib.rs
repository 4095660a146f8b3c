//! Combray's AWS X-Ray API, over the same storage and query engine as every other API.
//!
//! - [`control`]: groups, sampling rules, tags and encryption settings of each environment,
//!   stored durably in the object store.
//! - [`sampling`]: the reservoir-quota allocator behind GetSamplingTargets, and the statistics
//!   behind GetSamplingStatisticSummaries.
//! - [`trace`]: a stored trace as X-Ray segments (X-Ray documents as received; OTLP spans
//!   turned into segments), and [`analysis`]: its nodes and calls.
//! - [`eval`]: filter expressions evaluated on a trace; [`rootcause`]: root causes.
//! - [`read`]: BatchGetTraces, GetTraceSummaries, the service and trace graphs, time series.
//!
//! Every operation takes the caller's environment; nothing here sees across environments.

pub mod analysis;
pub mod control;
pub mod error;
pub mod eval;
pub mod facts;
pub mod graph;
pub mod groups;
pub mod read;
pub mod read_graph;
pub mod rootcause;
pub mod rules;
pub mod sampling;
pub mod shape;
pub mod summary;
pub mod tags;
pub mod time;
pub mod trace;

pub use error::{XRayError, XRayResult};
