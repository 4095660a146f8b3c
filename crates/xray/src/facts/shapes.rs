//! Trace shapes from span facts (a few columns of each span, see
//! [`crate::facts`]) instead of from documents, so a service graph can cover every
//! trace of a window. The rules are the document path's ([`crate::trace`] and
//! [`crate::analysis`]), restated over spans:
//!
//! - An X-Ray span of kind server is a segment; every other X-Ray span is a subsegment of the
//!   nearest segment above it. One whose parent is not an X-Ray span of the trace is an orphan:
//!   it stands in a segment of its own, named after its service, with the missing parent's id.
//! - An OTLP span starts a segment when it is a server or consumer span, has no parent among
//!   the trace's OTLP spans, or its parent is in another service; other OTLP spans are
//!   subsegments of their parent's segment.
//! - Copies of one X-Ray span: a complete one wins over one in progress.
//!
//! Where the two paths can differ (documented in docs/xray.md): a subsegment dropped from a
//! document that was later sent again without it still counts here, and a streamed subsegment
//! whose parent is itself an orphan belongs to that orphan's segment rather than to one of its
//! own (the same node either way).

use std::cmp::Reverse;

use super::SpanFacts;
use combray_model::{Protocol, SpanId, SpanKind};

use crate::analysis::Node;
use crate::shape::{Sample, ShapeCall, ShapeHop, TraceShape};
use crate::trace::synth::{origin_of_platform, outcome, remote_namespace, PEER_KEYS, STATUS_KEYS};

/// The span attributes a shape needs, in the order [`SpanFacts::value`] numbers them.
pub(crate) const SPAN_KEYS: [&str; 16] = [
    "aws.xray.fault",
    "aws.xray.error",
    "aws.xray.throttle",
    "aws.xray.in_progress",
    "aws.xray.namespace",
    "aws.xray.origin",
    "aws.account_id",
    "aws.table_name",
    "aws.queue_url",
    STATUS_KEYS[0],
    STATUS_KEYS[1],
    "rpc.system",
    PEER_KEYS[0],
    PEER_KEYS[1],
    PEER_KEYS[2],
    PEER_KEYS[3],
];
/// The resource attributes a shape needs, numbered after [`SPAN_KEYS`].
pub(crate) const RESOURCE_KEYS: [&str; 1] = ["cloud.platform"];

const FAULT: usize = 0;
const ERROR: usize = 1;
const THROTTLE: usize = 2;
const IN_PROGRESS: usize = 3;
const NAMESPACE: usize = 4;
const ORIGIN: usize = 5;
const ACCOUNT: usize = 6;
const TABLE: usize = 7;
const QUEUE: usize = 8;
const STATUS: usize = 9;
const RPC_SYSTEM: usize = 11;
const PEER: usize = 12;
const PLATFORM: usize = SPAN_KEYS.len();

/// One segment of the trace being shaped.
struct Segment {
    id: SpanId,
    parent: Option<SpanId>,
    node: usize,
    sample: Sample,
}

/// One entity (segment or subsegment) as a call site: where it is and what it calls.
struct Site {
    id: SpanId,
    segment: usize,
    sample: Sample,
    /// `(name, type)` of the node it calls when nothing instrumented answers, if remote.
    remote: Option<(String, String)>,
}

/// Shapes one trace at a time out of a [`SpanFacts`].
pub(crate) struct Shaper<'a> {
    facts: &'a SpanFacts,
}

impl<'a> Shaper<'a> {
    /// Over these facts.
    pub(crate) fn new(facts: &'a SpanFacts) -> Self {
        Self { facts }
    }

    fn value(&self, span: usize, key: usize) -> Option<&'a str> {
        self.facts.value(span, key)
    }

    fn flag(&self, span: usize, key: usize) -> bool {
        self.value(span, key) == Some("true")
    }

    fn first_value(&self, span: usize, keys: std::ops::Range<usize>) -> Option<&'a str> {
        keys.into_iter().find_map(|key| self.value(span, key))
    }

    fn times(&self, span: usize) -> (f64, f64) {
        let fact = &self.facts.spans[span];
        let start = fact.start_unix_nano;
        (
            start as f64 / 1e9,
            start.saturating_add(fact.duration_nano) as f64 / 1e9,
        )
    }

    fn xray_sample(&self, span: usize) -> Sample {
        let (start, end) = self.times(span);
        Sample {
            start,
            end,
            fault: self.flag(span, FAULT),
            error: self.flag(span, ERROR),
            throttle: self.flag(span, THROTTLE),
        }
    }

    fn otlp_sample(&self, span: usize) -> Sample {
        let (start, end) = self.times(span);
        let status = self.value(span, STATUS).or(self.value(span, STATUS + 1));
        let code = status.and_then(|text| {
            text.parse::<i64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(|n| n as i64))
        });
        let (fault, error, throttle) = outcome(code, self.facts.spans[span].failed);
        Sample {
            start,
            end,
            fault,
            error,
            throttle,
        }
    }

    /// What an X-Ray subsegment calls when remote: the table or queue of an AWS call, else
    /// its name.
    fn xray_remote(&self, span: usize) -> Option<(String, String)> {
        let namespace = self.value(span, NAMESPACE)?;
        let name = self.facts.text(self.facts.spans[span].name);
        match namespace {
            "aws" => {
                let queue = || {
                    let url = self.value(span, QUEUE)?;
                    url.rsplit('/').next().filter(|q| !q.is_empty())
                };
                let resource = self.value(span, TABLE).or_else(queue).unwrap_or(name);
                Some((resource.to_owned(), format!("AWS::{name}")))
            }
            "remote" => Some((name.to_owned(), "remote".to_owned())),
            _ => None,
        }
    }

    /// What an OTLP subsegment calls when it is a client or producer span.
    fn otlp_remote(&self, span: usize) -> Option<(String, String)> {
        let fact = &self.facts.spans[span];
        if !matches!(fact.kind, SpanKind::Client | SpanKind::Producer) {
            return None;
        }
        let name = self
            .first_value(span, PEER..PEER + PEER_KEYS.len())
            .unwrap_or_else(|| self.facts.text(fact.name));
        Some(match remote_namespace(self.value(span, RPC_SYSTEM)) {
            "aws" => (name.to_owned(), format!("AWS::{name}")),
            _ => (name.to_owned(), "remote".to_owned()),
        })
    }
}

/// One protocol's spans of a trace, one copy of each, sorted by id: traces are small, and a
/// binary search beats hashing every id.
struct ById {
    /// `(span id, index in the facts)`.
    entries: Vec<(SpanId, usize)>,
}

impl ById {
    fn position(&self, id: &SpanId) -> Option<usize> {
        self.entries.binary_search_by(|(s, _)| s.cmp(id)).ok()
    }

    fn contains(&self, id: &SpanId) -> bool {
        self.position(id).is_some()
    }
}

/// Deeper than any real trace: a parent chain this long is a cycle.
const MAX_DEPTH: usize = 256;

impl Shaper<'_> {
    /// X-Ray and OTLP spans, one copy each: a complete X-Ray copy wins over one in progress,
    /// and otherwise the later copy.
    fn deduplicate(&self, spans: &[usize]) -> (ById, ById) {
        let mut xray = Vec::new();
        let mut otlp = Vec::new();
        for &span in spans {
            let fact = &self.facts.spans[span];
            if fact.protocol == Some(Protocol::XRay) {
                xray.push((fact.span_id, span));
            } else {
                otlp.push((fact.span_id, span));
            }
        }
        xray.sort_unstable_by_key(|&(id, span)| (id, self.flag(span, IN_PROGRESS), Reverse(span)));
        xray.dedup_by_key(|entry| entry.0);
        otlp.sort_unstable_by_key(|&(id, span)| (id, Reverse(span)));
        otlp.dedup_by_key(|entry| entry.0);
        (ById { entries: xray }, ById { entries: otlp })
    }

    /// Positions in `spans`, earliest start first.
    fn by_start(&self, spans: &ById) -> Vec<usize> {
        let mut order: Vec<usize> = (0..spans.entries.len()).collect();
        order.sort_by_key(|&p| {
            let (id, span) = spans.entries[p];
            (self.facts.spans[span].start_unix_nano, id)
        });
        order
    }

    fn starts_otlp_segment(&self, span: usize, otlp: &ById) -> bool {
        let fact = &self.facts.spans[span];
        match fact.parent.and_then(|p| otlp.position(&p)) {
            None => true,
            Some(parent) => {
                self.facts.spans[otlp.entries[parent].1].service != fact.service
                    || matches!(fact.kind, SpanKind::Server | SpanKind::Consumer)
            }
        }
    }

    /// The segment each span belongs to: its own if it starts one (`tops`, by position), else
    /// its nearest ancestor's; spans whose chain never reaches one are left out.
    fn owners(&self, spans: &ById, tops: &[Option<usize>]) -> Vec<(usize, usize)> {
        let mut owned = Vec::with_capacity(spans.entries.len());
        for (position, &(_, span)) in spans.entries.iter().enumerate() {
            let mut at = position;
            for _ in 0..MAX_DEPTH {
                if let Some(segment) = tops[at] {
                    owned.push((span, segment));
                    break;
                }
                let parent = self.facts.spans[spans.entries[at].1].parent;
                match parent.and_then(|p| spans.position(&p)) {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
        owned
    }

    /// The shape of one trace from the indices of its spans in the facts.
    pub(crate) fn shape(&self, spans: &[usize]) -> TraceShape {
        let (xray, otlp) = self.deduplicate(spans);
        let mut shape = TraceShape::default();
        let mut segments: Vec<Segment> = Vec::new();
        // The segment each span starts (or stands in for, as an orphan), by position.
        let mut xray_tops = vec![None; xray.entries.len()];
        let mut otlp_tops = vec![None; otlp.entries.len()];
        let mut orphans = Vec::new();
        for position in self.by_start(&xray) {
            let span = xray.entries[position].1;
            let fact = &self.facts.spans[span];
            if fact.kind != SpanKind::Server {
                if fact.parent.is_none_or(|p| !xray.contains(&p)) {
                    orphans.push(position);
                }
                continue;
            }
            let node = Node {
                name: self.facts.text(fact.name).to_owned(),
                node_type: self.value(span, ORIGIN).map(str::to_owned),
                account_id: self.value(span, ACCOUNT).map(str::to_owned),
                inferred: false,
            };
            xray_tops[position] = Some(segments.len());
            segments.push(Segment {
                id: fact.span_id,
                parent: fact.parent,
                node: shape.node(node),
                sample: self.xray_sample(span),
            });
        }
        for position in orphans {
            let span = xray.entries[position].1;
            let fact = &self.facts.spans[span];
            let (start, end) = self.times(span);
            xray_tops[position] = Some(segments.len());
            segments.push(Segment {
                id: fact.parent.unwrap_or(SpanId::from_bytes([0; 8])),
                parent: None,
                node: shape.node(Node {
                    name: self.facts.text(fact.service).to_owned(),
                    node_type: None,
                    account_id: None,
                    inferred: false,
                }),
                sample: Sample {
                    start,
                    end,
                    fault: false,
                    error: false,
                    throttle: false,
                },
            });
        }
        for position in self.by_start(&otlp) {
            let span = otlp.entries[position].1;
            if !self.starts_otlp_segment(span, &otlp) {
                continue;
            }
            let fact = &self.facts.spans[span];
            let platform = self.value(span, PLATFORM).and_then(origin_of_platform);
            otlp_tops[position] = Some(segments.len());
            segments.push(Segment {
                id: fact.span_id,
                parent: fact.parent,
                node: shape.node(Node {
                    name: self.facts.text(fact.service).to_owned(),
                    node_type: platform.map(str::to_owned),
                    account_id: None,
                    inferred: false,
                }),
                sample: self.otlp_sample(span),
            });
        }
        let mut sites = self.sites(&xray, &xray_tops, &segments, true);
        sites.extend(self.sites(&otlp, &otlp_tops, &segments, false));
        let known = |id: &SpanId| {
            xray.contains(id) || otlp.contains(id) || segments.iter().any(|s| s.id == *id)
        };
        connect(&mut shape, &segments, &sites, known);
        shape
    }

    fn sites(
        &self,
        spans: &ById,
        tops: &[Option<usize>],
        segments: &[Segment],
        is_xray: bool,
    ) -> Vec<Site> {
        let mut sites = Vec::new();
        for (span, segment) in self.owners(spans, tops) {
            let fact = &self.facts.spans[span];
            let is_top = spans
                .position(&fact.span_id)
                .is_some_and(|p| tops[p] == Some(segment));
            let orphan = is_xray && is_top && fact.kind != SpanKind::Server;
            if orphan {
                // The stand-in segment is an entity too, with the missing parent's id.
                sites.push(Site {
                    id: segments[segment].id,
                    segment,
                    sample: segments[segment].sample,
                    remote: None,
                });
            }
            let (sample, remote) = match (is_xray, is_top) {
                (true, _) => (self.xray_sample(span), self.xray_remote(span)),
                (false, true) => (self.otlp_sample(span), None),
                (false, false) => (self.otlp_sample(span), self.otlp_remote(span)),
            };
            sites.push(Site {
                id: fact.span_id,
                segment,
                sample,
                remote,
            });
        }
        sites
    }
}

/// Calls from every site to the segments it is the parent of, or to the inferred node of a
/// remote call nothing instrumented answered; then each segment's hop, the entry one marked.
/// `known` says whether an id is in the trace.
fn connect(
    shape: &mut TraceShape,
    segments: &[Segment],
    sites: &[Site],
    known: impl Fn(&SpanId) -> bool,
) {
    let mut callees: Vec<(SpanId, usize)> = segments
        .iter()
        .enumerate()
        .filter_map(|(index, segment)| Some((segment.parent?, index)))
        .collect();
    callees.sort_unstable();
    for site in sites {
        let from = segments[site.segment].node;
        let first = callees.partition_point(|(parent, _)| *parent < site.id);
        let called = callees[first..]
            .iter()
            .take_while(|(parent, _)| *parent == site.id);
        let mut answered = false;
        for &(_, callee) in called {
            answered = true;
            shape.calls.push(ShapeCall {
                from,
                to: segments[callee].node,
                sample: site.sample,
            });
        }
        if let (false, Some((name, node_type))) = (answered, &site.remote) {
            let to = shape.node(Node {
                name: name.clone(),
                node_type: Some(node_type.clone()),
                account_id: None,
                inferred: true,
            });
            shape.hops.push(ShapeHop {
                node: to,
                sample: site.sample,
                root: false,
            });
            shape.calls.push(ShapeCall {
                from,
                to,
                sample: site.sample,
            });
        }
    }
    // The entry segment: the earliest whose parent is not in the trace, else the earliest.
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by(|&a, &b| {
        segments[a]
            .sample
            .start
            .total_cmp(&segments[b].sample.start)
    });
    let entry = order
        .iter()
        .find(|&&i| segments[i].parent.is_none_or(|p| !known(&p)))
        .or(order.first())
        .map(|&i| segments[i].id);
    for segment in segments {
        shape.hops.push(ShapeHop {
            node: segment.node,
            sample: segment.sample,
            root: Some(segment.id) == entry,
        });
    }
}
