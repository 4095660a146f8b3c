//! Combray's read path: the questions the APIs ask, answered over storage.
//!
//! - [`trace`]: one whole trace by id, ordered and annotated for a waterfall.
//! - [`search`]: traces with a span that matches service, name, duration, status, attribute and
//!   time conditions, newest first.
//! - [`catalog`]: services and their operations.
//! - [`sql`]: read-only SQL (Apache DataFusion) over an environment's head and blocks.
//! - [`heap`]: the allocator that counts the memory queries hold.
//! - [`threads`]: the runtimes reads run on, apart from ingest.
//!
//! Every function takes the caller's environment; nothing here can see across environments.

pub mod catalog;
mod error;
pub mod heap;
pub mod search;
pub mod sql;
pub mod threads;
pub mod trace;

pub use error::QueryError;

#[cfg(test)]
mod fixtures;
