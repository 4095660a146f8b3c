//! Span facts: the few columns of every span that X-Ray's service graph needs, read in one narrow
//! scan ([`span_facts`]), and the trace shapes built from them ([`Shaper`]), so a graph can cover
//! every trace of a window without reading a single segment document.

mod scan;
mod shapes;

pub(crate) use scan::{span_facts, FactsRequest, SpanFacts};
pub(crate) use shapes::{Shaper, RESOURCE_KEYS, SPAN_KEYS};
