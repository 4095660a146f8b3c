//! The AWS X-Ray side of the query API. So far: the filter-expression language that
//! GetTraceSummaries, groups and the console's search bar speak.

pub mod filter;
