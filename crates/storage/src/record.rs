//! WAL record payloads (layout in `docs/formats/wal-v1.md`).
//!
//! A batch is written as the head's own columns: an Arrow IPC stream of the span-schema record
//! batch the head is about to hold. So a span is encoded once on the write path (the copy to
//! the WAL is a copy of finished buffers), and replay hands the head the batch it had. Records
//! of type 1 (a postcard `SpanBatch`, written before) are still read.

use arrow_array::cast::AsArray;
use arrow_array::types::UInt8Type;
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use combray_model::{Protocol, SpanBatch};

use crate::head::schema::{column, span_schema, SCHEMA_VERSION, VERSION_KEY};
use crate::head::to_record_batch;
use crate::StorageError;

/// Record type byte of a postcard-encoded [`SpanBatch`] (read only).
const RECORD_SPAN_BATCH: u8 = 1;
/// Record type byte of an environment and an Arrow IPC stream of one span-schema batch.
const RECORD_SPAN_COLUMNS: u8 = 2;

fn codec(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

/// A batch of spans as the WAL holds it: the environment and the head's columns.
#[derive(Debug, Clone)]
pub struct WalRecord {
    /// Environment the spans belong to.
    pub environment: String,
    /// One row per span, in the span schema.
    pub columns: RecordBatch,
}

impl WalRecord {
    /// The record of a batch.
    pub fn of(batch: &SpanBatch) -> Result<Self, StorageError> {
        Ok(Self {
            environment: batch.environment.clone(),
            columns: to_record_batch(batch)?,
        })
    }

    /// Spans in the record.
    pub fn span_count(&self) -> usize {
        self.columns.num_rows()
    }

    /// The protocols the spans arrived by (one, for every record Combray writes).
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut protocols: Vec<Protocol> = Vec::new();
        let Some(numbers) = self.columns.column_by_name(column::PROTOCOL) else {
            return protocols;
        };
        let Some(numbers) = numbers.as_primitive_opt::<UInt8Type>() else {
            return protocols;
        };
        for protocol in numbers.iter().flatten().filter_map(Protocol::from_u8) {
            if !protocols.contains(&protocol) {
                protocols.push(protocol);
            }
        }
        protocols
    }

    /// The payload: type byte, environment (`u16` LE length, UTF-8), then the IPC stream.
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        let environment = self.environment.as_bytes();
        let length = u16::try_from(environment.len())
            .map_err(|_| codec("environment names are at most 65,535 bytes"))?;
        let mut payload =
            Vec::with_capacity(3 + environment.len() + self.columns.get_array_memory_size() + 4096);
        payload.push(RECORD_SPAN_COLUMNS);
        payload.extend_from_slice(&length.to_le_bytes());
        payload.extend_from_slice(environment);
        let mut writer = StreamWriter::try_new(payload, &span_schema()).map_err(codec)?;
        writer.write(&self.columns).map_err(codec)?;
        writer.into_inner().map_err(codec)
    }

    /// Reads a payload of either record type.
    pub fn decode(payload: &[u8]) -> Result<Self, StorageError> {
        match payload.split_first() {
            Some((&RECORD_SPAN_COLUMNS, body)) => decode_columns(body),
            Some((&RECORD_SPAN_BATCH, body)) => {
                let batch: SpanBatch = postcard::from_bytes(body).map_err(codec)?;
                Self::of(&batch)
            }
            Some((other, _)) => Err(codec(format!("unknown WAL record type {other}"))),
            None => Err(codec("empty WAL record")),
        }
    }
}

fn decode_columns(body: &[u8]) -> Result<WalRecord, StorageError> {
    let (length, rest) = body
        .split_first_chunk::<2>()
        .ok_or_else(|| codec("WAL record ends inside its environment length"))?;
    let length = usize::from(u16::from_le_bytes(*length));
    if rest.len() < length {
        return Err(codec("WAL record ends inside its environment name"));
    }
    let (environment, stream) = rest.split_at(length);
    let environment = std::str::from_utf8(environment)
        .map_err(|_| codec("WAL record environment is not UTF-8"))?
        .to_owned();
    // Arrow's IPC reader panics on some malformed streams (found by the wal_replay fuzz
    // target: an integer of an unknown bit width in the schema, a buffer offset past its
    // body): such a record is damage, not a crash.
    let columns = std::panic::catch_unwind(|| read_stream(stream)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_default();
        codec(format!(
            "the WAL record's Arrow IPC stream is malformed: {message}"
        ))
    })??;
    Ok(WalRecord {
        environment,
        columns,
    })
}

/// The one record batch of a WAL record's IPC stream, checked for its span schema version.
fn read_stream(stream: &[u8]) -> Result<RecordBatch, StorageError> {
    let mut reader = StreamReader::try_new(stream, None).map_err(codec)?;
    let version = reader.schema().metadata().get(VERSION_KEY).cloned();
    if version.as_deref() != Some(SCHEMA_VERSION) {
        return Err(codec(format!(
            "WAL record has span schema version {version:?}; this build reads {SCHEMA_VERSION}"
        )));
    }
    let columns = reader
        .next()
        .ok_or_else(|| codec("WAL record holds no record batch"))?
        .map_err(codec)?;
    if reader.next().is_some() {
        return Err(codec("WAL record holds more than one record batch"));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{batch, span};
    use combray_model::{AttributeValue, KeyValue};

    fn spans(count: u8) -> SpanBatch {
        let mut spans: Vec<_> = (1..=count).map(|id| span(7, id, u64::from(id))).collect();
        spans[0].attributes = vec![KeyValue::new(
            "http.route",
            AttributeValue::String("/a".into()),
        )];
        let resource = vec![KeyValue::new("host", AttributeValue::String("h1".into()))];
        batch("api", resource, spans)
    }

    #[test]
    fn a_batch_survives_the_columns_record_and_the_old_postcard_record() {
        let spans = spans(3);
        let expected = to_record_batch(&spans).unwrap();

        let written = WalRecord::of(&spans).unwrap().encode().unwrap();
        assert_eq!(written[0], RECORD_SPAN_COLUMNS);
        let read = WalRecord::decode(&written).unwrap();
        assert_eq!(read.environment, "prod");
        assert_eq!(read.columns, expected);
        assert_eq!(read.span_count(), 3);
        assert_eq!(read.protocols(), vec![spans.protocol]);

        let mut legacy = vec![RECORD_SPAN_BATCH];
        legacy.extend(postcard::to_allocvec(&spans).unwrap());
        let read = WalRecord::decode(&legacy).unwrap();
        assert_eq!(read.environment, "prod");
        assert_eq!(read.columns, expected);
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let written = WalRecord::of(&spans(2)).unwrap().encode().unwrap();
        // The last 8 bytes are the end-of-stream marker; cutting into the batch must fail.
        for cut in [0, 1, 2, 5, 7, written.len() / 2, written.len() - 9] {
            assert!(
                WalRecord::decode(&written[..cut]).is_err(),
                "a payload cut at {cut} bytes must not decode"
            );
        }
        assert!(WalRecord::decode(&[9, 0, 0]).is_err());
    }
}
