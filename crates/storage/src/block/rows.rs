//! The key columns of a batch of spans, in either layout (the head's v1 or the block's v2: both
//! have the same key columns), and the walk that builds a block's trace index from them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType, UInt8Type};
use arrow_array::{
    Array, FixedSizeBinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt8Array,
};
use combray_model::{SpanKind, StatusCode, TraceId};

use super::trace_index::{TraceEntry, TraceIndex};
use crate::head::schema::column;
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
    parent_span_id: &'a FixedSizeBinaryArray,
    service: Texts<'a>,
    name: Texts<'a>,
    kind: &'a UInt8Array,
    start_time: &'a TimestampNanosecondArray,
    duration_nano: &'a Int64Array,
    status_code: &'a UInt8Array,
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

/// The rows of several batches in block order (by trace id, then start), as `order` lists them
/// in `(batch, row)` pairs.
pub(crate) struct Ordered<'k, 'a> {
    pub keys: &'k [RowKeys<'a>],
    pub order: &'k [(usize, usize)],
}

impl Ordered<'_, '_> {
    fn len(&self) -> usize {
        self.order.len()
    }

    /// The key columns and the row within them of the `index`th row.
    fn at(&self, index: usize) -> (&RowKeys<'_>, usize) {
        let (batch, row) = self.order[index];
        (&self.keys[batch], row)
    }
}

/// service → span name → span kinds (OTLP numbers), as a block's meta lists them.
pub(crate) type Operations = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Walks the rows in order once for the trace index (one entry per run of equal trace ids), and
/// the batches once more for the catalogue of operations.
pub(crate) fn index_rows(rows: &Ordered<'_, '_>) -> (TraceIndex, Operations) {
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
    let mut index = 0;
    while index < rows.len() {
        let (keys, row) = rows.at(index);
        let trace_id = keys.trace_id_order_key(row);
        let first = index;
        let mut root = None;
        let mut entry = TraceEntry {
            trace_id: keys.trace_id(row),
            first_row: first as u32,
            row_count: 0,
            start_unix_nano: u64::MAX,
            end_unix_nano: 0,
            error_count: 0,
            root_service: 0,
            root_name: 0,
            has_root: false,
        };
        while index < rows.len() {
            let (keys, row) = rows.at(index);
            if keys.trace_id_order_key(row) != trace_id {
                break;
            }
            entry.start_unix_nano = entry.start_unix_nano.min(keys.start_unix_nano(row));
            entry.end_unix_nano = entry.end_unix_nano.max(keys.end_unix_nano(row));
            if keys.is_error(row) {
                entry.error_count += 1;
            }
            if root.is_none() && keys.is_root(row) {
                root = Some(index);
            }
            index += 1;
        }
        entry.row_count = (index - first) as u32;
        entry.has_root = root.is_some();
        // Rows of a trace are sorted by start, so the first row is the earliest span.
        let (keys, row) = rows.at(root.unwrap_or(first));
        entry.root_service = intern(keys.service(row));
        entry.root_name = intern(keys.name(row));
        entries.push(entry);
    }
    (TraceIndex { names, entries }, operations(rows.keys))
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
