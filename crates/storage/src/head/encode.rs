//! Span batches → Arrow record batches of the span schema.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BinaryDictionaryBuilder, FixedSizeBinaryBuilder, Int64Builder, StringBuilder,
    StringDictionaryBuilder, TimestampNanosecondBuilder, UInt32Builder, UInt8Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use combray_model::{Span, SpanBatch};

use super::schema::span_schema;
use crate::StorageError;

fn codec_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

/// Every column's builder, filled row by row.
struct Columns {
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent_span_id: FixedSizeBinaryBuilder,
    service: StringDictionaryBuilder<Int32Type>,
    name: StringDictionaryBuilder<Int32Type>,
    kind: UInt8Builder,
    start_time: TimestampNanosecondBuilder,
    duration_nano: Int64Builder,
    status_code: UInt8Builder,
    status_message: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    sample_rate: UInt32Builder,
    protocol: UInt8Builder,
    resource: BinaryDictionaryBuilder<Int32Type>,
    scope: BinaryDictionaryBuilder<Int32Type>,
    attributes: BinaryBuilder,
    events: BinaryBuilder,
    links: BinaryBuilder,
    dropped: [UInt32Builder; 3],
    /// Reused for each row's serialized lists, so encoding allocates once per batch rather than
    /// once per span.
    scratch: Vec<u8>,
}

impl Columns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            trace_id: FixedSizeBinaryBuilder::with_capacity(rows, 16),
            span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            parent_span_id: FixedSizeBinaryBuilder::with_capacity(rows, 8),
            service: StringDictionaryBuilder::new(),
            name: StringDictionaryBuilder::new(),
            kind: UInt8Builder::with_capacity(rows),
            start_time: TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            duration_nano: Int64Builder::with_capacity(rows),
            status_code: UInt8Builder::with_capacity(rows),
            status_message: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::with_capacity(rows),
            sample_rate: UInt32Builder::with_capacity(rows),
            protocol: UInt8Builder::with_capacity(rows),
            resource: BinaryDictionaryBuilder::new(),
            scope: BinaryDictionaryBuilder::new(),
            attributes: BinaryBuilder::new(),
            events: BinaryBuilder::new(),
            links: BinaryBuilder::new(),
            dropped: [
                UInt32Builder::new(),
                UInt32Builder::new(),
                UInt32Builder::new(),
            ],
            scratch: Vec::new(),
        }
    }

    fn push_span(&mut self, span: &Span, protocol: u8) -> Result<(), StorageError> {
        self.trace_id
            .append_value(span.trace_id.as_bytes())
            .map_err(codec_error)?;
        self.span_id
            .append_value(span.span_id.as_bytes())
            .map_err(codec_error)?;
        match &span.parent_span_id {
            Some(parent) => self
                .parent_span_id
                .append_value(parent.as_bytes())
                .map_err(codec_error)?,
            None => self.parent_span_id.append_null(),
        }
        self.name.append_value(&span.name);
        self.kind.append_value(span.kind as u8);
        self.start_time
            .append_value(i64::try_from(span.start_unix_nano).unwrap_or(i64::MAX));
        self.duration_nano
            .append_value(i64::try_from(span.duration_nano).unwrap_or(i64::MAX));
        self.status_code.append_value(span.status.code as u8);
        append_optional_text(&mut self.status_message, &span.status.message);
        append_optional_text(&mut self.trace_state, &span.trace_state);
        self.flags.append_value(span.flags);
        self.sample_rate.append_value(span.sample_rate);
        self.protocol.append_value(protocol);
        self.scratch.clear();
        postcard::to_io(&span.attributes, &mut self.scratch).map_err(codec_error)?;
        self.attributes.append_value(&self.scratch);
        append_optional_list(&mut self.events, &span.events, &mut self.scratch)?;
        append_optional_list(&mut self.links, &span.links, &mut self.scratch)?;
        for (builder, count) in self.dropped.iter_mut().zip(span.dropped_counts) {
            builder.append_value(count);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<RecordBatch, StorageError> {
        let [dropped_attributes, dropped_events, dropped_links] = &mut self.dropped;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.duration_nano.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.sample_rate.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.resource.finish()),
            Arc::new(self.scope.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.events.finish()),
            Arc::new(self.links.finish()),
            Arc::new(dropped_attributes.finish()),
            Arc::new(dropped_events.finish()),
            Arc::new(dropped_links.finish()),
        ];
        RecordBatch::try_new(span_schema(), columns).map_err(codec_error)
    }
}

fn append_optional_text(builder: &mut StringBuilder, text: &str) {
    if text.is_empty() {
        builder.append_null();
    } else {
        builder.append_value(text);
    }
}

fn append_optional_list<T: serde::Serialize>(
    builder: &mut BinaryBuilder,
    items: &[T],
    scratch: &mut Vec<u8>,
) -> Result<(), StorageError> {
    if items.is_empty() {
        builder.append_null();
    } else {
        scratch.clear();
        postcard::to_io(items, &mut *scratch).map_err(codec_error)?;
        builder.append_value(&scratch);
    }
    Ok(())
}

/// Converts a batch into one record batch, one row per span. Resource and scope are encoded once
/// per group and dictionary-referenced by each of its spans.
pub fn to_record_batch(batch: &SpanBatch) -> Result<RecordBatch, StorageError> {
    let mut columns = Columns::with_capacity(batch.span_count());
    let protocol = batch.protocol as u8;
    for group in &batch.groups {
        let resource = postcard::to_allocvec(&group.resource).map_err(codec_error)?;
        let scope = postcard::to_allocvec(&group.scope).map_err(codec_error)?;
        // Once per group, not per span: each append hashes the value to find its key.
        let spans = group.spans.len();
        columns.service.append_values(&group.dataset, spans);
        columns.resource.append_values(&resource, spans);
        columns.scope.append_values(&scope, spans);
        for span in &group.spans {
            columns.push_span(span, protocol)?;
        }
    }
    columns.finish()
}
