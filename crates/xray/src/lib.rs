//! Combray's AWS X-Ray API, over the same storage and query engine as every other API.
//!
//! - [`control`]: groups, sampling rules, tags and encryption settings of each environment,
//!   stored durably in the object store.
//! - [`sampling`]: the reservoir-quota allocator behind GetSamplingTargets, and the statistics
//!   behind GetSamplingStatisticSummaries.
//! - [`trace`]: a stored trace as X-Ray segments (X-Ray documents as received; OTLP spans
//!   turned into segments), and [`analysis`]: its nodes and calls.
//! - [`filter`]: the filter-expression language — lexer, parser, AST, the scan that narrows a
//!   filter's candidate traces, and the evaluator over a trace; `rootcause`: root causes.
//! - `facts`: the few facts of every span a service graph needs, read in one narrow scan, and
//!   trace shapes built from them.
//! - [`read`]: BatchGetTraces, GetTraceSummaries, the service and trace graphs, time series.
//!
//! Every operation takes the caller's environment; nothing here sees across environments.

pub mod analysis;
pub mod control;
mod error;
mod facts;
pub mod filter;
pub mod graph;
pub mod groups;
pub mod read;
pub mod read_graph;
mod rootcause;
pub mod rules;
pub mod sampling;
pub mod shape;
mod summary;
pub mod tags;
pub mod time;
pub mod trace;

pub use error::{XRayError, XRayResult};
