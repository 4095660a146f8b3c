//! A chunk: one immutable record batch of the span schema, with typed access to its columns.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType, UInt32Type, UInt8Type};
use arrow_array::{
    Array, BinaryArray, DictionaryArray, FixedSizeBinaryArray, Int64Array, PrimitiveArray,
    RecordBatch, StringArray, TimestampNanosecondArray, UInt32Array, UInt8Array,
};
use combray_model::{
    KeyValue, KeyValueRef, Protocol, Scope, Span, SpanId, SpanKind, SpanRecord, Status, StatusCode,
    TraceId,
};

use super::schema::column;
use crate::block::wide::WideBatch;
use crate::scan::WideSlot;
use crate::StorageError;

/// A dictionary-encoded column with its keys and values resolved once.
struct Dictionary<V> {
    keys: PrimitiveArray<Int32Type>,
    values: V,
}

/// An immutable batch of spans in the span schema.
pub struct Chunk {
    batch: RecordBatch,
    trace_id: FixedSizeBinaryArray,
    span_id: FixedSizeBinaryArray,
    parent_span_id: FixedSizeBinaryArray,
    service: Dictionary<StringArray>,
    name: Dictionary<StringArray>,
    kind: UInt8Array,
    start_time: TimestampNanosecondArray,
    duration_nano: Int64Array,
    status_code: UInt8Array,
    status_message: StringArray,
    trace_state: StringArray,
    flags: UInt32Array,
    sample_rate: UInt32Array,
    protocol: UInt8Array,
    resource: Dictionary<BinaryArray>,
    scope: Dictionary<BinaryArray>,
    attributes: BinaryArray,
    events: BinaryArray,
    links: BinaryArray,
    dropped: [UInt32Array; 3],
    /// The chunk in the block layout, once a scan has needed it.
    wide: WideSlot,
}

fn missing(name: &str) -> StorageError {
    StorageError::Codec(format!("span chunk has no usable {name} column"))
}

fn codec_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

impl Chunk {
    /// Wraps a record batch, checking that every column has the type the schema promises.
    pub fn new(batch: RecordBatch) -> Result<Self, StorageError> {
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| missing(name));
        let fixed = |name: &str| -> Result<FixedSizeBinaryArray, StorageError> {
            get(name)?
                .as_fixed_size_binary_opt()
                .cloned()
                .ok_or_else(|| missing(name))
        };
        let text = |name: &str| -> Result<StringArray, StorageError> {
            get(name)?
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| missing(name))
        };
        let binary = |name: &str| -> Result<BinaryArray, StorageError> {
            get(name)?
                .as_binary_opt::<i32>()
                .cloned()
                .ok_or_else(|| missing(name))
        };
        let u8s = |name: &str| -> Result<UInt8Array, StorageError> {
            get(name)?
                .as_primitive_opt::<UInt8Type>()
                .cloned()
                .ok_or_else(|| missing(name))
        };
        let u32s = |name: &str| -> Result<UInt32Array, StorageError> {
            get(name)?
                .as_primitive_opt::<UInt32Type>()
                .cloned()
                .ok_or_else(|| missing(name))
        };
        let text_dictionary = |name: &str| -> Result<Dictionary<StringArray>, StorageError> {
            let array: &DictionaryArray<Int32Type> = get(name)?
                .as_dictionary_opt()
                .ok_or_else(|| missing(name))?;
            let values = array
                .values()
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| missing(name))?;
            Ok(Dictionary {
                keys: array.keys().clone(),
                values,
            })
        };
        let binary_dictionary = |name: &str| -> Result<Dictionary<BinaryArray>, StorageError> {
            let array: &DictionaryArray<Int32Type> = get(name)?
                .as_dictionary_opt()
                .ok_or_else(|| missing(name))?;
            let values = array
                .values()
                .as_binary_opt::<i32>()
                .cloned()
                .ok_or_else(|| missing(name))?;
            Ok(Dictionary {
                keys: array.keys().clone(),
                values,
            })
        };
        Ok(Self {
            trace_id: fixed(column::TRACE_ID)?,
            span_id: fixed(column::SPAN_ID)?,
            parent_span_id: fixed(column::PARENT_SPAN_ID)?,
            service: text_dictionary(column::SERVICE)?,
            name: text_dictionary(column::NAME)?,
            kind: u8s(column::KIND)?,
            start_time: get(column::START_TIME)?
                .as_primitive_opt::<TimestampNanosecondType>()
                .cloned()
                .ok_or_else(|| missing(column::START_TIME))?,
            duration_nano: get(column::DURATION_NANO)?
                .as_primitive_opt::<Int64Type>()
                .cloned()
                .ok_or_else(|| missing(column::DURATION_NANO))?,
            status_code: u8s(column::STATUS_CODE)?,
            status_message: text(column::STATUS_MESSAGE)?,
            trace_state: text(column::TRACE_STATE)?,
            flags: u32s(column::FLAGS)?,
            sample_rate: u32s(column::SAMPLE_RATE)?,
            protocol: u8s(column::PROTOCOL)?,
            resource: binary_dictionary(column::RESOURCE)?,
            scope: binary_dictionary(column::SCOPE)?,
            attributes: binary(column::ATTRIBUTES)?,
            events: binary(column::EVENTS)?,
            links: binary(column::LINKS)?,
            dropped: [
                u32s(column::DROPPED_ATTRIBUTES)?,
                u32s(column::DROPPED_EVENTS)?,
                u32s(column::DROPPED_LINKS)?,
            ],
            batch,
            wide: WideSlot::default(),
        })
    }

    /// The underlying record batch.
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Rows in the chunk.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The chunk in the block layout (span schema v2), widened the first time it is asked for
    /// and kept while the chunk lives.
    pub(crate) fn wide(&self) -> Result<Arc<WideBatch>, StorageError> {
        self.wide.get_or_widen(self)
    }

    /// Counts the widened form's bytes in `ledger` (the head's) while the chunk lives.
    pub(crate) fn count_widened_in(&self, ledger: Arc<AtomicUsize>) {
        self.wide.count_in(ledger);
    }

    /// Bytes of memory the chunk's buffers hold (not its widened form: see `Head`).
    pub fn memory_bytes(&self) -> usize {
        self.batch.get_array_memory_size()
    }

    /// Trace id of a row.
    pub fn trace_id(&self, row: usize) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(self.trace_id.value(row));
        TraceId::from_bytes(bytes)
    }

    /// Span id of a row.
    pub fn span_id(&self, row: usize) -> SpanId {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.span_id.value(row));
        SpanId::from_bytes(bytes)
    }

    /// Parent span id of a row; `None` for a root.
    pub fn parent_span_id(&self, row: usize) -> Option<SpanId> {
        if self.parent_span_id.is_null(row) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.parent_span_id.value(row));
        Some(SpanId::from_bytes(bytes))
    }

    /// Service (dataset) of a row.
    pub fn service(&self, row: usize) -> &str {
        self.service
            .values
            .value(self.service.keys.value(row) as usize)
    }

    /// Span name of a row.
    pub fn name(&self, row: usize) -> &str {
        self.name.values.value(self.name.keys.value(row) as usize)
    }

    /// Span kind of a row.
    pub fn kind(&self, row: usize) -> SpanKind {
        SpanKind::from_otlp(i32::from(self.kind.value(row)))
    }

    /// Start of a row, nanoseconds since the Unix epoch.
    pub fn start_unix_nano(&self, row: usize) -> u64 {
        u64::try_from(self.start_time.value(row)).unwrap_or(0)
    }

    /// Duration of a row in nanoseconds.
    pub fn duration_nano(&self, row: usize) -> u64 {
        u64::try_from(self.duration_nano.value(row)).unwrap_or(0)
    }

    /// Status code of a row.
    pub fn status_code(&self, row: usize) -> StatusCode {
        StatusCode::from_otlp(i32::from(self.status_code.value(row)))
    }

    /// Span attributes of a row.
    pub fn attributes(&self, row: usize) -> Result<Vec<KeyValue>, StorageError> {
        postcard::from_bytes(self.attributes.value(row)).map_err(codec_error)
    }

    /// Span attributes of a row, borrowing their text from the chunk.
    pub fn attribute_views(&self, row: usize) -> Result<Vec<KeyValueRef<'_>>, StorageError> {
        postcard::from_bytes(self.attribute_bytes(row)).map_err(codec_error)
    }

    /// The encoded attribute list of a row (a postcard list of `KeyValue`s).
    pub(crate) fn attribute_bytes(&self, row: usize) -> &[u8] {
        self.attributes.value(row)
    }

    /// Resource attributes of a row.
    pub fn resource(&self, row: usize) -> Result<Vec<KeyValue>, StorageError> {
        let key = self.resource.keys.value(row) as usize;
        postcard::from_bytes(self.resource.values.value(key)).map_err(codec_error)
    }

    /// Each distinct resource attribute list of the chunk, decoded once (borrowing its text),
    /// and which one each row has.
    #[allow(clippy::type_complexity)]
    pub fn distinct_resources(
        &self,
    ) -> Result<(Vec<Vec<KeyValueRef<'_>>>, Vec<usize>), StorageError> {
        let values = &self.resource.values;
        let resources = (0..values.len())
            .map(|i| postcard::from_bytes(values.value(i)).map_err(codec_error))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = (0..self.len())
            .map(|row| self.resource.keys.value(row) as usize)
            .collect();
        Ok((resources, rows))
    }

    fn optional_text(array: &StringArray, row: usize) -> String {
        if array.is_null(row) {
            String::new()
        } else {
            array.value(row).to_owned()
        }
    }

    fn optional_list<T: serde::de::DeserializeOwned>(
        array: &BinaryArray,
        row: usize,
    ) -> Result<Vec<T>, StorageError> {
        if array.is_null(row) {
            return Ok(Vec::new());
        }
        postcard::from_bytes(array.value(row)).map_err(codec_error)
    }

    /// The whole span of a row, with what it shares with its group.
    pub fn record(&self, row: usize) -> Result<SpanRecord, StorageError> {
        let scope_key = self.scope.keys.value(row) as usize;
        let scope: Scope =
            postcard::from_bytes(self.scope.values.value(scope_key)).map_err(codec_error)?;
        let span = Span {
            trace_id: self.trace_id(row),
            span_id: self.span_id(row),
            parent_span_id: self.parent_span_id(row),
            trace_state: Self::optional_text(&self.trace_state, row),
            name: self.name(row).to_owned(),
            kind: self.kind(row),
            start_unix_nano: self.start_unix_nano(row),
            duration_nano: self.duration_nano(row),
            status: Status {
                code: self.status_code(row),
                message: Self::optional_text(&self.status_message, row),
            },
            attributes: self.attributes(row)?,
            events: Self::optional_list(&self.events, row)?,
            links: Self::optional_list(&self.links, row)?,
            flags: self.flags.value(row),
            sample_rate: self.sample_rate.value(row),
            dropped_counts: [
                self.dropped[0].value(row),
                self.dropped[1].value(row),
                self.dropped[2].value(row),
            ],
        };
        Ok(SpanRecord {
            span,
            dataset: Arc::from(self.service(row)),
            resource: Arc::from(self.resource(row)?),
            scope: Arc::new(scope),
            protocol: Protocol::from_u8(self.protocol.value(row))
                .unwrap_or(Protocol::OtlpHttpProtobuf),
        })
    }
}
