//! The Arrow schema of span chunks (v1): the head holds it in memory, blocks will hold it in
//! Parquet. Nested values (attributes, resource, scope, events, links) are postcard-encoded model
//! values so they stay typed and faithful; the byte-level description is in
//! `docs/formats/span-schema-v1.md`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of this schema, stored in the schema metadata under [`VERSION_KEY`].
pub(crate) const SCHEMA_VERSION: &str = "1";
/// Schema metadata key holding [`SCHEMA_VERSION`].
pub(crate) const VERSION_KEY: &str = "combray.span_schema_version";

/// Column names, in schema order.
pub(crate) mod column {
    #![allow(missing_docs)]
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const SERVICE: &str = "service";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const START_TIME: &str = "start_time";
    pub const DURATION_NANO: &str = "duration_nano";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const TRACE_STATE: &str = "trace_state";
    pub const FLAGS: &str = "flags";
    pub const SAMPLE_RATE: &str = "sample_rate";
    pub const PROTOCOL: &str = "protocol";
    pub const RESOURCE: &str = "resource";
    pub const SCOPE: &str = "scope";
    pub const ATTRIBUTES: &str = "attributes";
    pub const EVENTS: &str = "events";
    pub const LINKS: &str = "links";
    pub const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
    pub const DROPPED_EVENTS: &str = "dropped_events_count";
    pub const DROPPED_LINKS: &str = "dropped_links_count";
}

fn dictionary(value: DataType) -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(value))
}

/// The span schema, built once.
pub(crate) fn span_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        use column::*;
        let fields = vec![
            Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
            Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
            Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
            Field::new(SERVICE, dictionary(DataType::Utf8), false),
            Field::new(NAME, dictionary(DataType::Utf8), false),
            Field::new(KIND, DataType::UInt8, false),
            Field::new(
                START_TIME,
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new(DURATION_NANO, DataType::Int64, false),
            Field::new(STATUS_CODE, DataType::UInt8, false),
            Field::new(STATUS_MESSAGE, DataType::Utf8, true),
            Field::new(TRACE_STATE, DataType::Utf8, true),
            Field::new(FLAGS, DataType::UInt32, false),
            Field::new(SAMPLE_RATE, DataType::UInt32, false),
            Field::new(PROTOCOL, DataType::UInt8, false),
            Field::new(RESOURCE, dictionary(DataType::Binary), false),
            Field::new(SCOPE, dictionary(DataType::Binary), false),
            Field::new(ATTRIBUTES, DataType::Binary, false),
            Field::new(EVENTS, DataType::Binary, true),
            Field::new(LINKS, DataType::Binary, true),
            Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
            Field::new(DROPPED_EVENTS, DataType::UInt32, false),
            Field::new(DROPPED_LINKS, DataType::UInt32, false),
        ];
        let metadata = HashMap::from([(VERSION_KEY.to_owned(), SCHEMA_VERSION.to_owned())]);
        Arc::new(Schema::new_with_metadata(fields, metadata))
    });
    Arc::clone(schema)
}
