//! Honeycomb's query model over every span Combray keeps.
//!
//! - [`spec`]: the Query Specification as Honeycomb's API takes it, and its rules.
//! - [`window`]: the time a query covers and its time-series buckets.
//! - [`columns`]: Honeycomb's column names over the `spans` table.
//! - [`derived`]: the calculated-field language, compiled to SQL.
//! - [`settings`]: datasets, saved calculated fields and markers, kept in the object store.
//! - [`usage`]: which columns a dataset's events have, and when each was last written.
//! - [`run`]: a query planned as SQL ([`plan`]), run by the query engine and shaped as
//!   Honeycomb's result `data`.
//!
//! Aggregates are weighted by sample rate as Honeycomb's are (COUNT is the sum of the rates;
//! SUM, AVG and the percentiles count each event rate times; COUNT_DISTINCT, MIN and MAX are
//! not weighted), unless the query sets `usage_mode`.

pub mod bubbleup;
pub mod columns;
pub mod derived;
mod error;
mod heatmap;
pub mod ops;
mod plan;
pub mod run;
pub mod settings;
pub mod spec;
pub mod usage;
mod validate;
pub mod window;

pub use error::{HoneycombError, HoneycombResult};
