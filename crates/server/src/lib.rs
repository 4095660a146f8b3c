//! Combray's server: the only crate that knows all the others.
//!
//! - [`config`]: file, environment and flags → a validated [`config::Config`].
//! - [`app`]: builds storage, keys and listeners, runs them, and shuts down in order.
//! - [`http`]: the OTLP/HTTP receiver and the query API; `http::error` maps every error to a
//!   status code in one place.
//! - [`grpc`]: the OTLP/gRPC receiver.
//! - [`xray`]: the X-Ray daemon's UDP port and the X-Ray API.
//! - [`keys`]: environments and API keys, the Honeycomb way.
//! - [`data_dir`]: the data directory's lock (one server at a time) and node id.
//! - [`admission`] and [`metrics`]: bounded ingest memory and Prometheus counters.
//! - [`tools`]: read-only operator commands over blocks and the WAL.
//! - [`sql_cli`]: `combray sql`, a client of a running server's SQL endpoint.

pub mod admission;
pub mod app;
pub mod config;
pub mod data_dir;
pub mod grpc;
pub mod http;
#[cfg(test)]
mod isolation_tests;
pub mod keys;
pub mod metrics;
mod panics;
mod progress;
pub mod reads;
pub mod sql_cli;
mod state;
#[cfg(test)]
mod test_state;
pub mod tools;
pub mod xray;

pub use app::{serve, BoundAddrs};
/// The global allocator wrapper that counts the memory queries hold; the binary installs it.
pub use combray_query::heap::CountingAllocator;
