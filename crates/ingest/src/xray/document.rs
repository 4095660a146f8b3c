//! One segment document: parsed, validated, and kept whole for BatchGetTraces.

use std::sync::Arc;

use combray_model::{Span, SpanId, TraceId};
use serde_json::Value;

use super::assemble::Owner;
use super::convert::{document_spans, segment_owner};
use super::segment::Entity;
use super::MAX_DOCUMENT_BYTES;

/// Why a document is rejected; `code` goes to `UnprocessedTraceSegments.ErrorCode`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DocumentError {
    /// The document's `id`, when it could be read.
    pub id: Option<String>,
    /// `MalformedSegment`, `MissingRequiredFields`, `InvalidSegmentId`, `InvalidTraceId` or
    /// `SegmentTooLarge` (only `InvalidTraceId` is documented by AWS; the rest are ours).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// A valid document, a segment or a subsegment sent on its own, already turned into spans:
/// parsing and conversion run where documents arrive (on every core), so that what the
/// assembler does one document at a time is only bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its id.
    pub id: SpanId,
    /// A subsegment sent on its own (`type: "subsegment"`), whose service is its parent's.
    pub independent_subsegment: bool,
    /// Sent before it ended (`in_progress: true`); its complete version should follow.
    pub in_progress: bool,
    /// `parent_id`, when it has one.
    pub parent: Option<SpanId>,
    /// The service and resource of a segment; `None` for an independent subsegment, whose
    /// owner is its parent's.
    pub owner: Option<Arc<Owner>>,
    /// The document's entity and every subsegment inside it, its own first. The text as
    /// received rides on that first span (`aws.xray.document`), byte for byte.
    pub spans: Vec<Span>,
    /// About how much memory the document takes while it waits: its text, kept on its first
    /// span, about as much again for the attributes read out of it, and the spans themselves.
    pub memory_bytes: usize,
}

impl Document {
    /// The ids of the document's entity and every subsegment inside it.
    pub fn ids(&self) -> impl Iterator<Item = SpanId> + '_ {
        self.spans.iter().map(|span| span.span_id)
    }
}

pub(crate) fn span_id(text: &str) -> Option<SpanId> {
    // Hex of either case; no copy (this runs for every entity of every document).
    if text.len() != 16 {
        return None;
    }
    text.parse().ok()
}

fn error(id: Option<&str>, code: &'static str, message: String) -> DocumentError {
    DocumentError {
        id: id.map(str::to_owned),
        code,
        message,
    }
}

/// Where an entity sits in its document, rendered only when an error names it (checking runs
/// for every entity of every document, and most are valid).
#[derive(Clone, Copy)]
pub(crate) enum EntityPath<'p> {
    /// The document's own entity.
    Document,
    /// The `index`th subsegment of the entity at `parent`.
    Subsegment {
        parent: &'p EntityPath<'p>,
        index: usize,
    },
}

impl std::fmt::Display for EntityPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Document => f.write_str("the document"),
            Self::Subsegment { parent, index } => write!(f, "{parent}.subsegments[{index}]"),
        }
    }
}

/// Checks the fields every entity (segment or subsegment, embedded or not) needs.
pub(crate) fn check_entity(entity: &Entity<'_>, path: EntityPath<'_>) -> Result<(), DocumentError> {
    let id = entity.id.as_deref();
    let missing = |field: &str| {
        error(
            id,
            "MissingRequiredFields",
            format!("{path} has no {field}"),
        )
    };
    let name = entity.name.as_deref().ok_or_else(|| missing("name"))?;
    if name.len() > 200 && name.chars().count() > 200 {
        return Err(error(
            id,
            "MissingRequiredFields",
            format!("{path} name is longer than 200 characters"),
        ));
    }
    let id_text = id.ok_or_else(|| missing("id"))?;
    if span_id(id_text).is_none() {
        return Err(error(
            id,
            "InvalidSegmentId",
            format!("{path} id {id_text:?} is not 16 hex digits"),
        ));
    }
    if entity.start_time.is_none() {
        return Err(missing("numeric start_time"));
    }
    if entity.in_progress != Some(true) && entity.end_time.is_none() {
        return Err(missing("end_time (or in_progress: true)"));
    }
    for (index, child) in entity.subsegments.iter().flatten().enumerate() {
        let parent = &path;
        check_entity(child, EntityPath::Subsegment { parent, index })?;
    }
    Ok(())
}

/// Why a document that is not a valid segment document fails to parse, with its `id` when a
/// looser reading finds one (so the daemon can match the answer to what it sent).
fn malformed(raw: &str, reason: serde_json::Error) -> DocumentError {
    let loose = serde_json::from_str::<Value>(raw).ok();
    let id = loose
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str);
    let message = match &loose {
        None => format!("the document is not JSON: {reason}"),
        Some(Value::Object(_)) => format!("the document has a field of the wrong type: {reason}"),
        Some(_) => "the document is not a JSON object".to_owned(),
    };
    error(id, "MalformedSegment", message)
}

/// Parses and validates one document.
pub fn parse_document(raw: &str) -> Result<Document, DocumentError> {
    if raw.len() > MAX_DOCUMENT_BYTES {
        return Err(error(
            None,
            "SegmentTooLarge",
            format!(
                "the document has {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                raw.len()
            ),
        ));
    }
    let body: Entity<'_> = serde_json::from_str(raw).map_err(|e| malformed(raw, e))?;
    let id_text = body.id.as_deref();
    let trace_text = body.trace_id.as_deref().ok_or_else(|| {
        error(
            id_text,
            "MissingRequiredFields",
            "the document has no trace_id".into(),
        )
    })?;
    let trace_id = TraceId::from_xray(trace_text).ok_or_else(|| {
        error(id_text, "InvalidTraceId", format!("Invalid segment. ErrorCode: InvalidTraceId ({trace_text:?} is not 1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy)"))
    })?;
    // Whatever entity is wrong, the daemon maps the answer back by the document's own id.
    check_entity(&body, EntityPath::Document).map_err(|mut error| {
        error.id = id_text.map(str::to_owned);
        error
    })?;
    let independent_subsegment = body.kind.as_deref() == Some("subsegment");
    let parent = body.parent_id.as_deref().and_then(span_id);
    if independent_subsegment && parent.is_none() {
        return Err(error(
            id_text,
            "MissingRequiredFields",
            "a subsegment sent on its own needs a 16-hex parent_id".into(),
        ));
    }
    let id = id_text.and_then(span_id).expect("checked by check_entity");
    let in_progress = body.in_progress == Some(true);
    let owner = (!independent_subsegment).then(|| Arc::new(segment_owner(&body)));
    let spans = document_spans(&body, trace_id, parent, raw.to_owned());
    let memory_bytes = 2 * raw.len() + spans.len() * std::mem::size_of::<Span>();
    Ok(Document {
        trace_id,
        id,
        independent_subsegment,
        in_progress,
        parent,
        owner,
        spans,
        memory_bytes,
    })
}
