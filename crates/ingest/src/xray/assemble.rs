//! Puts documents that arrive out of order back together before they become spans.
//!
//! Two things an X-Ray SDK sends cannot be stored as they come:
//! - A subsegment streamed on its own names its parent by id but not its service, and it usually
//!   arrives *before* the parent segment (the SDK streams finished subsegments while the request
//!   is still running, and sends the segment when it ends). It waits here until some document
//!   of the same trace tells which service owns that parent id.
//! - An in-progress document is later sent again, complete. It waits here, so that when the
//!   complete version follows in time only that is stored. One that is still incomplete when
//!   its wait ends is stored as it is (readers prefer a complete copy of the same id).
//!
//! Waiting is bounded in time (`wait`) and in documents (`max_waiting`): past either, a
//! document is released anyway, an orphan with the service `unknown_service`. The owner of the
//! assemblers also bounds their memory with [`Assembler::release_oldest_until`]. Nothing is ever
//! dropped here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_model::{KeyValue, SpanGroup, SpanId, TraceId};

use super::Document;

/// Service of a subsegment whose parent never arrived.
pub const UNRESOLVED_SERVICE: &str = combray_model::UNKNOWN_SERVICE;

/// The service (and resource) an id belongs to.
#[derive(Debug, PartialEq)]
pub struct Owner {
    /// Service (dataset).
    pub service: String,
    /// Resource attributes of the owning segment.
    pub resource: Vec<KeyValue>,
}

struct Waiting {
    document: Document,
    since: Instant,
}

/// A span ready to store, with the service that owns it (shared by the document's spans).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSpan {
    /// Service and resource.
    pub owner: Arc<Owner>,
    /// The span.
    pub span: combray_model::Span,
}

/// What the assembler counts, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerCounts {
    /// Documents waiting now.
    pub waiting: usize,
    /// Orphan subsegments released without a known service, ever.
    pub unresolved: u64,
    /// In-progress documents replaced by their complete version before being stored, ever.
    pub superseded: u64,
}

/// Maps keyed by ids: foldhash's quality hasher (seeded per process) instead of SipHash, as
/// every span of every document is looked up here on the one writer task.
type IdMap<V> = HashMap<(TraceId, SpanId), V, foldhash::quality::RandomState>;

/// The waiting room. Not thread-safe; callers wrap it in a mutex.
pub struct Assembler {
    wait: Duration,
    max_waiting: usize,
    /// Ids remembered per generation of [`Assembler::known`].
    max_known: usize,
    /// Which service owns an id, for ids seen recently.
    known: KnownOwners,
    /// Owners seen recently, so documents of one service share one.
    owners: RecentOwners,
    /// Independent subsegments by the parent id they wait for.
    orphans: IdMap<Vec<Waiting>>,
    /// In-progress documents by their own id.
    in_progress: IdMap<Waiting>,
    waiting: usize,
    /// Memory of the waiting documents (their [`Document::memory_bytes`]).
    waiting_bytes: usize,
    /// Ids of documents that stopped waiting since [`Assembler::take_departed`] last ran.
    departed: Vec<(TraceId, SpanId)>,
    counts: AssemblerCounts,
}

/// What [`Assembler::push`] did with a document.
#[derive(Debug, Default)]
pub struct Pushed {
    /// Spans now ready to store: the document's own, or others it completed.
    pub ready: Vec<ResolvedSpan>,
    /// Whether the document itself now waits (until its parent or complete version comes).
    pub held: bool,
}

impl Assembler {
    /// An assembler that holds a document at most `wait`, and at most `max_waiting` at once.
    pub fn new(wait: Duration, max_waiting: usize) -> Self {
        Self {
            wait,
            max_waiting,
            max_known: max_waiting.saturating_mul(4).max(1024),
            known: KnownOwners::default(),
            owners: RecentOwners::default(),
            orphans: IdMap::default(),
            in_progress: IdMap::default(),
            waiting: 0,
            waiting_bytes: 0,
            departed: Vec::new(),
            counts: AssemblerCounts::default(),
        }
    }

    /// Counters, for metrics.
    pub fn counts(&self) -> AssemblerCounts {
        AssemblerCounts {
            waiting: self.waiting,
            ..self.counts
        }
    }

    /// Memory of the documents waiting now.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    /// Ids (trace, document) of documents that stopped waiting since the last call: their
    /// spans were handed out as ready, or a complete version replaced them.
    pub fn take_departed(&mut self) -> Vec<(TraceId, SpanId)> {
        std::mem::take(&mut self.departed)
    }

    /// Takes a document; says which spans are now ready and whether the document waits.
    pub fn push(&mut self, mut document: Document, now: Instant) -> Pushed {
        if let Some(owner) = document.owner.take() {
            document.owner = Some(self.owners.intern(owner));
        }
        let mut ready = Vec::new();
        let key = (document.trace_id, document.id);
        let bytes = document.memory_bytes;
        if document.in_progress {
            if let Some(owner) = self.owner_of(&document) {
                for id in document.ids() {
                    self.remember(document.trace_id, id, &owner, &mut ready);
                }
            }
            if self.waiting < self.max_waiting {
                let previous = self.in_progress.insert(
                    key,
                    Waiting {
                        document,
                        since: now,
                    },
                );
                self.waiting_bytes += bytes;
                match previous {
                    None => self.waiting += 1,
                    Some(previous) => {
                        self.waiting_bytes -= previous.document.memory_bytes;
                        self.counts.superseded += 1;
                    }
                }
                return Pushed { ready, held: true };
            }
            self.release(document, &mut ready);
            return Pushed { ready, held: false };
        }
        if let Some(previous) = self.in_progress.remove(&key) {
            self.waiting -= 1;
            self.waiting_bytes -= previous.document.memory_bytes;
            self.counts.superseded += 1;
            self.departed.push(key);
        }
        let orphan = document.independent_subsegment && self.owner_of(&document).is_none();
        if orphan && self.waiting < self.max_waiting {
            let parent = parent_key(&document);
            self.orphans.entry(parent).or_default().push(Waiting {
                document,
                since: now,
            });
            self.waiting += 1;
            self.waiting_bytes += bytes;
            return Pushed { ready, held: true };
        }
        self.release(document, &mut ready);
        Pushed { ready, held: false }
    }

    /// Releases every document that has waited `wait` or longer.
    pub fn expire(&mut self, now: Instant) -> Vec<ResolvedSpan> {
        let wait = self.wait;
        self.release_waiting_since(|since| now.saturating_duration_since(since) >= wait)
    }

    /// Releases the documents that have waited longest until the waiting ones take at most
    /// `bytes` of memory: they are stored as they are (orphans with an unknown service), which
    /// beats holding memory the server does not have.
    pub fn release_oldest_until(&mut self, bytes: usize) -> Vec<ResolvedSpan> {
        if self.waiting_bytes <= bytes {
            return Vec::new();
        }
        let mut ages: Vec<(Instant, usize)> = self
            .in_progress
            .values()
            .chain(self.orphans.values().flatten())
            .map(|w| (w.since, w.document.memory_bytes))
            .collect();
        ages.sort_unstable_by_key(|(since, _)| *since);
        let (mut freed, excess) = (0, self.waiting_bytes - bytes);
        let mut cutoff = None;
        for (since, size) in ages {
            if freed >= excess && cutoff != Some(since) {
                break;
            }
            freed += size;
            cutoff = Some(since);
        }
        match cutoff {
            Some(cutoff) => self.release_waiting_since(|since| since <= cutoff),
            None => Vec::new(),
        }
    }

    /// Releases every waiting document whose wait began at an instant `due` accepts.
    fn release_waiting_since(&mut self, due: impl Fn(Instant) -> bool) -> Vec<ResolvedSpan> {
        let due = |w: &Waiting| due(w.since);
        let mut released = Vec::new();
        let stale: Vec<_> = self
            .in_progress
            .iter()
            .filter(|(_, w)| due(w))
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            if let Some(waiting) = self.in_progress.remove(&key) {
                self.waiting -= 1;
                self.waiting_bytes -= waiting.document.memory_bytes;
                self.departed.push(key);
                released.push(waiting.document);
            }
        }
        let parents: Vec<_> = self
            .orphans
            .iter()
            .filter(|(_, list)| list.iter().any(&due))
            .map(|(k, _)| *k)
            .collect();
        for parent in parents {
            let Some(list) = self.orphans.remove(&parent) else {
                continue;
            };
            let (old, young): (Vec<_>, Vec<_>) = list.into_iter().partition(&due);
            self.waiting -= old.len();
            self.waiting_bytes -= old.iter().map(|w| w.document.memory_bytes).sum::<usize>();
            self.departed
                .extend(old.iter().map(|w| (w.document.trace_id, w.document.id)));
            released.extend(old.into_iter().map(|w| w.document));
            if !young.is_empty() {
                self.orphans.insert(parent, young);
            }
        }
        let mut ready = Vec::new();
        for document in released {
            self.release(document, &mut ready);
        }
        ready
    }

    /// Releases everything (at shutdown).
    pub fn drain(&mut self) -> Vec<ResolvedSpan> {
        self.wait = Duration::ZERO;
        let far = Instant::now() + Duration::from_secs(3600 * 24 * 365);
        self.expire(far)
    }

    fn owner_of(&self, document: &Document) -> Option<Arc<Owner>> {
        document
            .owner
            .clone()
            .or_else(|| self.known.get(&parent_key(document)).cloned())
    }

    /// Turns a document into spans now, with its owner if known, and frees what waited on it.
    fn release(&mut self, document: Document, ready: &mut Vec<ResolvedSpan>) {
        let owner = self.owner_of(&document).unwrap_or_else(|| {
            self.counts.unresolved += 1;
            self.owners.intern(Arc::new(Owner {
                service: UNRESOLVED_SERVICE.to_owned(),
                resource: vec![KeyValue::new(
                    "service.name",
                    combray_model::AttributeValue::String(UNRESOLVED_SERVICE.into()),
                )],
            }))
        });
        let trace_id = document.trace_id;
        let first = ready.len();
        for span in document.spans {
            ready.push(ResolvedSpan {
                owner: Arc::clone(&owner),
                span,
            });
        }
        // The document's own spans are `ready[first..last]`; remembering them may append
        // children after `last`, so they are read by index.
        let last = ready.len();
        for index in first..last {
            let id = ready[index].span.span_id;
            self.remember(trace_id, id, &owner, ready);
        }
    }

    /// Records that `id` belongs to `owner`, and releases orphans waiting on it.
    fn remember(
        &mut self,
        trace_id: TraceId,
        id: SpanId,
        owner: &Arc<Owner>,
        ready: &mut Vec<ResolvedSpan>,
    ) {
        let key = (trace_id, id);
        self.known.insert(key, owner, self.max_known);
        if let Some(children) = self.orphans.remove(&key) {
            self.waiting -= children.len();
            self.waiting_bytes -= children
                .iter()
                .map(|c| c.document.memory_bytes)
                .sum::<usize>();
            self.departed.extend(
                children
                    .iter()
                    .map(|c| (c.document.trace_id, c.document.id)),
            );
            for child in children {
                self.release(child.document, ready);
            }
        }
    }
}

/// Owners of recently seen ids in two generations: ids go into the young one; once it holds
/// `max_known`, the old one is emptied whole and the two swap. So an id is remembered for at
/// least `max_known - 1` later ids. A queue of ids, evicting one per insert, cost a second hash
/// lookup (usually a cache miss) for every span of every document.
#[derive(Default)]
struct KnownOwners {
    young: IdMap<Arc<Owner>>,
    old: IdMap<Arc<Owner>>,
}

impl KnownOwners {
    fn get(&self, key: &(TraceId, SpanId)) -> Option<&Arc<Owner>> {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    fn insert(&mut self, key: (TraceId, SpanId), owner: &Arc<Owner>, max_known: usize) {
        self.young.insert(key, Arc::clone(owner));
        if self.young.len() >= max_known {
            std::mem::swap(&mut self.young, &mut self.old);
            // Keeps the table's capacity for the next generation.
            self.young.clear();
        }
    }
}

/// How many distinct owners [`RecentOwners`] keeps.
const RECENT_OWNERS: usize = 32;

/// A few recently seen owners. Every segment document brings its own copy of its service's
/// owner; sharing one instead keeps the id map from holding (and later freeing, cache-cold)
/// hundreds of thousands of copies, and lets [`group_spans`] match owners by pointer. Past 32
/// distinct owners (services × hosts) slots are reused in turn, so sharing is partial, and a
/// miss costs 32 comparisons, most of which stop at the service name.
#[derive(Default)]
struct RecentOwners {
    owners: Vec<Arc<Owner>>,
    /// The slot the next new owner replaces once the list is full.
    next_slot: usize,
}

impl RecentOwners {
    /// The shared owner equal to `owner`, which becomes the shared one if none is.
    fn intern(&mut self, owner: Arc<Owner>) -> Arc<Owner> {
        if let Some(known) = self.owners.iter().find(|known| ***known == *owner) {
            return Arc::clone(known);
        }
        if self.owners.len() < RECENT_OWNERS {
            self.owners.push(Arc::clone(&owner));
        } else {
            self.owners[self.next_slot] = Arc::clone(&owner);
            self.next_slot = (self.next_slot + 1) % RECENT_OWNERS;
        }
        owner
    }
}

fn parent_key(document: &Document) -> (TraceId, SpanId) {
    (document.trace_id, document.parent.unwrap_or(document.id))
}

/// Groups resolved spans by service and resource, as the write path stores them. A batch
/// holds few owners, and documents of one segment share one, so a short list beats hashing.
pub fn group_spans(spans: Vec<ResolvedSpan>) -> Vec<SpanGroup> {
    let mut owners: Vec<Arc<Owner>> = Vec::new();
    let mut groups: Vec<SpanGroup> = Vec::new();
    for ResolvedSpan { owner, span } in spans {
        let slot = owners
            .iter()
            .position(|o| Arc::ptr_eq(o, &owner) || **o == *owner);
        let slot = slot.unwrap_or_else(|| {
            groups.push(SpanGroup {
                dataset: owner.service.clone(),
                resource: owner.resource.clone(),
                scope: combray_model::Scope {
                    name: "aws-xray".into(),
                    ..Default::default()
                },
                spans: Vec::new(),
            });
            owners.push(owner);
            groups.len() - 1
        });
        groups[slot].spans.push(span);
    }
    groups
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
