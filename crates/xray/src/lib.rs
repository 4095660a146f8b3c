//! Combray's AWS X-Ray API, over the same storage and query engine as every other API.
//!
//! - [`control`]: groups, sampling rules, tags and encryption settings of each environment,
//!   stored durably in the object store.
//! - [`sampling`]: the reservoir-quota allocator behind GetSamplingTargets, and the statistics
//!   behind GetSamplingStatisticSummaries.
//!
//! Every operation takes the caller's environment; nothing here sees across environments.

pub mod control;
pub mod error;
pub mod groups;
pub mod rules;
pub mod sampling;
pub mod tags;
pub mod time;

pub use error::{XRayError, XRayResult};
