//! The AWS X-Ray side of the query API: the filter-expression language that GetTraceSummaries,
//! groups and the console's search bar speak, and the scan that narrows a filter's candidate
//! traces before they are evaluated exactly.

pub mod facts;
pub mod filter;
pub mod prefilter;
