//! Combray's server: the only crate that knows all the others. Its public surface is what the
//! binary needs: [`serve`] with its [`config`], the key commands ([`keys`]), the operator tools
//! ([`tools`]) and `combray sql` ([`sql_cli`]).
//!
//! Inside:
//! - `app`: builds storage, keys and listeners, runs them, and shuts down in order.
//! - `http`: the OTLP/HTTP receiver and the query API; `http::error` maps every error to a
//!   status code in one place.
//! - `grpc`: the OTLP/gRPC receiver.
//! - `xray`: the X-Ray daemon's UDP port and the X-Ray API.
//! - `reads`: where reads run and the limit they run under.
//! - `data_dir`: the data directory's lock (one server at a time) and node id.
//! - `admission` and `metrics`: bounded ingest memory and Prometheus counters.

mod admission;
mod app;
pub mod bubbleup_cli;
pub mod config;
mod data_dir;
mod grpc;
mod honeycomb;
mod http;
#[cfg(test)]
mod isolation_tests;
pub mod keys;
mod metrics;
mod panics;
mod progress;
pub mod query_cli;
mod reads;
pub mod sql_cli;
mod state;
#[cfg(test)]
mod test_state;
pub mod tools;
mod ui;
mod xray;

pub use app::{serve, BoundAddrs};
