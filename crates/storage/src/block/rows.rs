//! The key columns of a batch of spans, in either layout (the head's v1 or the block's v2: both
//! have the same key columns), and the walk that builds a block's trace index from them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType, UInt8Type};
use arrow_array::{
    Array, BinaryArray, FixedSizeBinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt8Array,
};
use arrow_schema::DataType;
use combray_model::{AttributeValueRef, KeyValueRef, SpanKind, StatusCode, TraceId};

use super::trace_index::{TraceEntry, TraceIndex};
use super::wide::{ATTRIBUTE_PREFIX, OVERFLOW_COLUMN};
use crate::head::schema::column;
use crate::root_label::root_label;
use crate::StorageError;

/// A dictionary-encoded text column, resolved once.
struct Texts<'a> {
    keys: &'a Int32Array,
    values: &'a StringArray,
}

impl Texts<'_> {
    fn value(&self, row: usize) -> &str {
        self.text_of_key(self.key(row))
    }

    /// The dictionary key of a row: rows with equal keys have equal text.
    fn key(&self, row: usize) -> i32 {
        self.keys.value(row)
    }

    fn text_of_key(&self, key: i32) -> &str {
        self.values.value(key as usize)
    }
}

/// Typed views of the columns that order a block and fill its trace index.
pub(crate) struct RowKeys<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    parent_span_id: &'a FixedSizeBinaryArray,
    service: Texts<'a>,
    name: Texts<'a>,
    kind: &'a UInt8Array,
    start_time: &'a TimestampNanosecondArray,
    duration_nano: &'a Int64Array,
    status_code: &'a UInt8Array,
    labels: LabelColumns<'a>,
}

fn missing(name: &str) -> StorageError {
    StorageError::Codec(format!("span batch has no usable {name} column"))
}

impl<'a> RowKeys<'a> {
    /// The key columns of `batch`, checked for their types.
    pub(crate) fn of(batch: &'a RecordBatch) -> Result<Self, StorageError> {
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| missing(name));
        let fixed = |name: &str| {
            get(name)?
                .as_fixed_size_binary_opt()
                .ok_or_else(|| missing(name))
        };
        let u8s = |name: &str| {
            get(name)?
                .as_primitive_opt::<UInt8Type>()
                .ok_or_else(|| missing(name))
        };
        let texts = |name: &str| -> Result<Texts<'a>, StorageError> {
            let array = get(name)?
                .as_dictionary_opt::<Int32Type>()
                .ok_or_else(|| missing(name))?;
            let values = array
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| missing(name))?;
            Ok(Texts {
                keys: array.keys(),
                values,
            })
        };
        Ok(Self {
            trace_id: fixed(column::TRACE_ID)?,
            span_id: fixed(column::SPAN_ID)?,
            parent_span_id: fixed(column::PARENT_SPAN_ID)?,
            service: texts(column::SERVICE)?,
            name: texts(column::NAME)?,
            kind: u8s(column::KIND)?,
            start_time: get(column::START_TIME)?
                .as_primitive_opt::<TimestampNanosecondType>()
                .ok_or_else(|| missing(column::START_TIME))?,
            duration_nano: get(column::DURATION_NANO)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| missing(column::DURATION_NANO))?,
            status_code: u8s(column::STATUS_CODE)?,
            labels: LabelColumns::of(batch),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.trace_id.len()
    }

    fn service(&self, row: usize) -> &str {
        self.service.value(row)
    }

    fn name(&self, row: usize) -> &str {
        self.name.value(row)
    }

    /// The trace id at a row as an integer that orders as its bytes do.
    pub(crate) fn trace_id_order_key(&self, row: usize) -> u128 {
        u128::from_be_bytes(*self.trace_id(row).as_bytes())
    }

    /// The span id at a row as an integer (equal ids, equal integers).
    fn span_id_key(&self, row: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.span_id.value(row));
        u64::from_be_bytes(bytes)
    }

    fn trace_id(&self, row: usize) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(self.trace_id.value(row));
        TraceId::from_bytes(bytes)
    }

    /// Start of a row, nanoseconds since the Unix epoch.
    pub(crate) fn start_unix_nano(&self, row: usize) -> u64 {
        u64::try_from(self.start_time.value(row)).unwrap_or(0)
    }

    fn end_unix_nano(&self, row: usize) -> u64 {
        let duration = u64::try_from(self.duration_nano.value(row)).unwrap_or(0);
        self.start_unix_nano(row).saturating_add(duration)
    }

    fn is_error(&self, row: usize) -> bool {
        StatusCode::from_otlp(i32::from(self.status_code.value(row))) == StatusCode::Error
    }

    fn kind(&self, row: usize) -> u8 {
        SpanKind::from_otlp(i32::from(self.kind.value(row))) as u8
    }

    fn is_root(&self, row: usize) -> bool {
        self.parent_span_id.is_null(row)
    }
}

/// A row as the block orders and indexes it, read out of its batch once, in the batches' order:
/// sorting these and walking them in block order touches no column again (the rows of a block
/// come from anywhere in its sources, and reading five columns at random per row cost cache
/// misses on each).
#[derive(Clone, Copy)]
pub(crate) struct SortedRow {
    /// The trace id as an integer that orders as its bytes do.
    pub trace: u128,
    /// The span id as an integer.
    pub span: u64,
    /// Start, nanoseconds since the Unix epoch.
    pub start: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end: u64,
    /// Which batch.
    pub batch: u32,
    /// Which row of it.
    pub row: u32,
    /// Whether the span's status is an error.
    pub error: bool,
    /// Whether the span has no parent.
    pub root: bool,
}

impl SortedRow {
    /// Every row of `keys`, in block order: by trace id, then start; ties keep input order. A
    /// span that appears more than once (same trace id and span id: an exporter resent a batch
    /// whose answer it missed, a document was stored again complete, or two blocks being merged
    /// both hold it) is kept once, as its last row in input order.
    pub(crate) fn sorted(keys: &[RowKeys<'_>]) -> Vec<SortedRow> {
        let mut rows = Vec::with_capacity(keys.iter().map(RowKeys::len).sum());
        for (batch, batch_keys) in keys.iter().enumerate() {
            for row in 0..batch_keys.len() {
                rows.push(SortedRow {
                    trace: batch_keys.trace_id_order_key(row),
                    span: batch_keys.span_id_key(row),
                    start: batch_keys.start_unix_nano(row),
                    end: batch_keys.end_unix_nano(row),
                    batch: batch as u32,
                    row: row as u32,
                    error: batch_keys.is_error(row),
                    root: batch_keys.is_root(row),
                });
            }
        }
        // (batch, row) is unique and rises with input order, so an unstable sort is stable here.
        rows.sort_unstable_by_key(|r| (r.trace, r.start, r.batch, r.row));
        drop_repeats(&mut rows);
        rows
    }

    /// Where the row is, as `interleave` takes it.
    pub(crate) fn position(&self) -> (usize, usize) {
        (self.batch as usize, self.row as usize)
    }
}

/// Keeps one row of each (trace, span) pair: the last in input order, since a later copy is the
/// newer (an X-Ray segment stored in progress, then complete; a resent batch is the same span).
/// The rows of a trace are consecutive.
fn drop_repeats(rows: &mut Vec<SortedRow>) {
    let mut keep = vec![true; rows.len()];
    let mut latest: HashMap<u64, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut first = 0;
    for trace in rows.chunk_by(|a, b| a.trace == b.trace) {
        if trace.len() > 1 {
            latest.clear();
            for (offset, row) in trace.iter().enumerate() {
                let at = first + offset;
                if let Some(previous) = latest.insert(row.span, at) {
                    let older = rows[previous].position() > row.position();
                    let dropped = if older { at } else { previous };
                    keep[dropped] = false;
                    if older {
                        latest.insert(row.span, previous);
                    }
                }
            }
        }
        first += trace.len();
    }
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut index = 0;
    rows.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

/// service → span name → span kinds (OTLP numbers), as a block's meta lists them.
pub(crate) type Operations = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Walks the rows in order once for the trace index (one entry per run of equal trace ids), and
/// the batches once more for the catalogue of operations.
pub(crate) fn index_rows(keys: &[RowKeys<'_>], rows: &[SortedRow]) -> (TraceIndex, Operations) {
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: HashMap<String, u32> = HashMap::new();
    let mut intern = |text: &str| -> u32 {
        if let Some(id) = name_ids.get(text) {
            return *id;
        }
        let id = names.len() as u32;
        names.push(text.to_owned());
        name_ids.insert(text.to_owned(), id);
        id
    };
    let mut entries: Vec<TraceEntry> = Vec::new();
    for (first, trace) in rows
        .chunk_by(|a, b| a.trace == b.trace)
        .scan(0, |at, trace| {
            let first = *at;
            *at += trace.len();
            Some((first, trace))
        })
    {
        // Rows of a trace are sorted by start, so the first row is the earliest span (and
        // stands in for the root when the trace has none).
        let earliest = &trace[0];
        let root = trace.iter().find(|r| r.root);
        let named = root.unwrap_or(earliest);
        let named_keys = &keys[named.batch as usize];
        let named_row = named.row as usize;
        entries.push(TraceEntry {
            trace_id: TraceId::from_bytes(earliest.trace.to_be_bytes()),
            first_row: first as u32,
            row_count: trace.len() as u32,
            start_unix_nano: earliest.start,
            end_unix_nano: trace.iter().map(|r| r.end).max().unwrap_or(0),
            error_count: trace.iter().filter(|r| r.error).count() as u32,
            root_service: intern(named_keys.service(named_row)),
            root_name: intern(&root_label(
                named_keys.name(named_row),
                named_keys.service(named_row),
                || named_keys.labels.attributes(named_row),
            )),
            has_root: root.is_some(),
        });
    }
    (TraceIndex { names, entries }, operations(keys))
}

/// The catalogue of (service, span name, kind) the rows hold. Order does not matter, so each
/// batch is read in place, by dictionary keys: text is looked up once per distinct key pair,
/// not once per row.
fn operations(batches: &[RowKeys<'_>]) -> Operations {
    let mut catalogue: BTreeMap<String, BTreeMap<String, BTreeSet<u8>>> = BTreeMap::new();
    let mut seen: HashSet<(i32, i32, u8), foldhash::fast::RandomState> = HashSet::default();
    for keys in batches {
        seen.clear();
        for row in 0..keys.len() {
            seen.insert((keys.service.key(row), keys.name.key(row), keys.kind(row)));
        }
        for &(service, name, kind) in &seen {
            catalogue
                .entry(keys.service.text_of_key(service).to_owned())
                .or_default()
                .entry(keys.name.text_of_key(name).to_owned())
                .or_default()
                .insert(kind);
        }
    }
    catalogue
        .into_iter()
        .map(|(service, names)| {
            let names = names
                .into_iter()
                .map(|(name, kinds)| (name, kinds.into_iter().collect()))
                .collect();
            (service, names)
        })
        .collect()
}

/// The attributes a root's label may use ([`root_label`]): the head's list of every attribute
/// (layout v1), or the block's typed columns of those keys and its overflow list (v2).
struct LabelColumns<'a> {
    list: Option<&'a BinaryArray>,
    typed: Vec<(&'static str, &'a dyn Array)>,
}

/// The attribute keys [`root_label`] reads.
const LABEL_KEYS: [&str; 3] = ["http.method", "http.url", "aws.operation"];

impl<'a> LabelColumns<'a> {
    fn of(batch: &'a RecordBatch) -> Self {
        let list = [column::ATTRIBUTES, OVERFLOW_COLUMN]
            .iter()
            .find_map(|name| batch.column_by_name(name)?.as_binary_opt::<i32>());
        let typed = LABEL_KEYS
            .iter()
            .filter_map(|key| {
                let array = batch.column_by_name(&format!("{ATTRIBUTE_PREFIX}{key}"))?;
                Some((*key, array.as_ref()))
            })
            .collect();
        Self { list, typed }
    }

    /// A row's attributes of the label's keys, and its listed ones; text columns only.
    fn attributes(&self, row: usize) -> Vec<KeyValueRef<'a>> {
        let mut found: Vec<KeyValueRef<'a>> = self
            .list
            .filter(|list| list.is_valid(row))
            .and_then(|list| postcard::from_bytes(list.value(row)).ok())
            .unwrap_or_default();
        for (key, array) in &self.typed {
            if !array.is_valid(row) {
                continue;
            }
            let text = match array.data_type() {
                DataType::Utf8 => array.as_string::<i32>().value(row),
                DataType::Utf8View => array.as_string_view().value(row),
                _ => continue,
            };
            found.push(KeyValueRef {
                key,
                value: AttributeValueRef::String(text),
            });
        }
        found
    }
}
