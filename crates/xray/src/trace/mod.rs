//! A trace as X-Ray sees it: segments (one per service hop, each with its subsegments), built
//! from whatever the store holds for the trace. X-Ray documents are used as received;
//! subsegments streamed on their own are put back inside their parents; spans that came over
//! OTLP are turned into segments (see [`synth`]). Summaries, filters and graphs all read this.

mod entity;
pub(crate) mod synth;

use std::collections::HashMap;

use combray_model::{AttributeValue, Protocol, SpanRecord, TraceId};
use serde_json::{Map, Value};

pub use entity::Entity;

/// The attribute on an X-Ray segment's top span holding the document as received.
pub use combray_model::XRAY_DOCUMENT_ATTRIBUTE as DOCUMENT_ATTRIBUTE;

/// One segment: a service's part of the trace.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The document, with streamed subsegments put back in place.
    pub document: Map<String, Value>,
    /// The text as received, when nothing was put back into it.
    pub raw: Option<String>,
}

impl Segment {
    /// The segment as an entity.
    pub fn entity(&self) -> Entity<'_> {
        Entity(&self.document)
    }

    /// The document as BatchGetTraces returns it: as received when possible.
    pub fn document_text(&self) -> String {
        self.raw
            .clone()
            .unwrap_or_else(|| Value::Object(self.document.clone()).to_string())
    }
}

/// A trace's segments.
#[derive(Debug, Clone)]
pub struct XTrace {
    /// The trace id.
    pub id: TraceId,
    /// Segments, earliest first.
    pub segments: Vec<Segment>,
    /// Index of the entry segment, found once: summaries, filters and graphs all ask.
    root: Option<usize>,
}

struct Stored {
    document: Map<String, Value>,
    raw: String,
    service: String,
}

fn parse_stored(record: &SpanRecord) -> Option<Stored> {
    let Some(AttributeValue::String(raw)) = record.span.attribute(DOCUMENT_ATTRIBUTE) else {
        return None;
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(document)) => Some(Stored {
            document,
            raw: raw.clone(),
            service: record.dataset.to_string(),
        }),
        _ => None,
    }
}

/// Of two stored copies of one document, the one to keep: complete beats in progress, and
/// otherwise the later copy wins.
fn keep_newer(existing: &Stored, candidate: &Stored) -> bool {
    let in_progress = |s: &Stored| Entity(&s.document).in_progress();
    !in_progress(candidate) || in_progress(existing)
}

impl XTrace {
    /// Builds the trace from every stored span of it (duplicates allowed).
    pub fn from_records(id: TraceId, records: &[SpanRecord]) -> Self {
        let mut documents: Vec<Stored> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut otlp: HashMap<[u8; 8], &SpanRecord> = HashMap::new();
        for record in records {
            if record.protocol != Protocol::XRay {
                otlp.insert(*record.span.span_id.as_bytes(), record);
                continue;
            }
            // Subsegment spans of an X-Ray document are inside its text already.
            let Some(stored) = parse_stored(record) else {
                continue;
            };
            let key = Entity(&stored.document).id().unwrap_or_default().to_owned();
            match by_id.get(&key) {
                Some(&index) if !keep_newer(&documents[index], &stored) => {}
                Some(&index) => documents[index] = stored,
                None => {
                    by_id.insert(key, documents.len());
                    documents.push(stored);
                }
            }
        }
        let mut segments = attach_streamed(documents);
        let mut otlp_records: Vec<&SpanRecord> = otlp.into_values().collect();
        otlp_records.sort_by_key(|r| (r.span.start_unix_nano, *r.span.span_id.as_bytes()));
        segments.extend(synth::segments(&id, &otlp_records));
        segments.sort_by(|a, b| a.entity().start().total_cmp(&b.entity().start()));
        let root = entry_segment(&segments);
        Self { id, segments, root }
    }

    /// `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`.
    pub fn xray_id(&self) -> String {
        self.id.to_xray()
    }

    /// The entry segment: the earliest one whose parent is not in the trace.
    pub fn root(&self) -> Option<&Segment> {
        self.root.map(|index| &self.segments[index])
    }

    /// Earliest start, in epoch seconds.
    pub fn start(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.entity().start())
            .fold(f64::INFINITY, f64::min)
    }

    /// Latest end minus earliest start, in seconds.
    pub fn duration(&self) -> f64 {
        let end = self
            .segments
            .iter()
            .map(|s| s.entity().end())
            .fold(f64::NEG_INFINITY, f64::max);
        (end - self.start()).max(0.0)
    }

    /// The segment whose entity (itself or a subsegment) has this id.
    pub fn segment_containing(&self, id: &str) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| s.entity().all_ids().any(|i| i == id))
    }

    /// Segments called by an entity (their `parent_id` is its id).
    pub fn callees<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments
            .iter()
            .filter(move |s| s.entity().parent_id() == Some(id))
    }
}

/// Index of the earliest segment whose parent is not in the trace (or the earliest of all).
fn entry_segment(segments: &[Segment]) -> Option<usize> {
    let ids: std::collections::HashSet<&str> =
        segments.iter().flat_map(|s| s.entity().all_ids()).collect();
    segments
        .iter()
        .position(|s| s.entity().parent_id().is_none_or(|p| !ids.contains(p)))
        .or_else(|| (!segments.is_empty()).then_some(0))
}

/// Puts streamed subsegments back inside the entity they name as parent; returns segments.
fn attach_streamed(documents: Vec<Stored>) -> Vec<Segment> {
    let (mut streamed, tops): (Vec<Stored>, Vec<Stored>) = documents
        .into_iter()
        .partition(|s| Entity(&s.document).is_streamed_subsegment());
    let mut segments: Vec<(Segment, String)> = tops
        .into_iter()
        .map(|s| {
            (
                Segment {
                    document: s.document,
                    raw: Some(s.raw),
                },
                s.service,
            )
        })
        .collect();
    // A streamed subsegment may be the parent of another: repeat while anything moves.
    loop {
        let before = streamed.len();
        streamed.retain(|child| {
            let Some(parent) = Entity(&child.document).parent_id().map(str::to_owned) else {
                return true;
            };
            for (segment, _) in segments.iter_mut() {
                if entity::insert_child(&mut segment.document, &parent, &child.document) {
                    segment.raw = None;
                    return false;
                }
            }
            true
        });
        if streamed.len() == before {
            break;
        }
    }
    // An orphan (its parent never arrived) stands in a segment of its own, named after the
    // service it was stored under, in place of the missing parent.
    for orphan in streamed {
        let child = Entity(&orphan.document);
        let mut document = Map::new();
        for field in ["trace_id", "start_time", "end_time"] {
            if let Some(value) = orphan.document.get(field) {
                document.insert(field.into(), value.clone());
            }
        }
        let parent = child.parent_id().unwrap_or_default().to_owned();
        document.insert("id".into(), Value::String(parent));
        document.insert("name".into(), Value::String(orphan.service.clone()));
        document.insert(
            "subsegments".into(),
            Value::Array(vec![Value::Object(orphan.document)]),
        );
        segments.push((
            Segment {
                document,
                raw: None,
            },
            orphan.service,
        ));
    }
    segments.into_iter().map(|(segment, _)| segment).collect()
}
