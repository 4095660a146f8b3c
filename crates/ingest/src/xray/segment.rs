//! The segment document's fields, typed, as serde reads them straight from the text.
//!
//! Parsing into these structs rather than a `serde_json::Value` tree is what keeps the UDP
//! receiver fast: keys are matched without being allocated, strings are borrowed from the
//! datagram where they have no escapes, and fields Combray does not map are skipped unread.
//! Values copied into attributes as they are (HTTP status, annotation values, AWS fields) stay
//! `Value`s, so any JSON type is accepted there; a structural field of the wrong type (`http`
//! that is not an object, `start_time` that is not a number) makes the document malformed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A segment, or a subsegment (embedded or sent on its own).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Entity<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub parent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default)]
    pub start_time: Option<f64>,
    #[serde(default)]
    pub end_time: Option<f64>,
    #[serde(default)]
    pub in_progress: Option<bool>,
    #[serde(default)]
    pub error: Option<bool>,
    #[serde(default)]
    pub fault: Option<bool>,
    #[serde(default)]
    pub throttle: Option<bool>,
    #[serde(borrow, default)]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub origin: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub resource_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub user: Option<Cow<'a, str>>,
    #[serde(default)]
    pub http: Option<Http>,
    #[serde(default)]
    pub aws: Option<Aws>,
    #[serde(default)]
    pub sql: Option<Sql>,
    #[serde(default)]
    pub service: Option<Service>,
    #[serde(borrow, default)]
    pub annotations: Option<BTreeMap<Cow<'a, str>, Value>>,
    #[serde(borrow, default)]
    pub metadata: Option<BTreeMap<Cow<'a, str>, &'a RawValue>>,
    /// Read on demand by [`Cause::read`]: it is rare, and either a string or an object.
    #[serde(borrow, default)]
    pub cause: Option<&'a RawValue>,
    #[serde(default)]
    pub precursor_ids: Option<Vec<Value>>,
    #[serde(borrow, default)]
    pub subsegments: Option<Vec<Entity<'a>>>,
}

/// `http`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Http {
    #[serde(default)]
    pub request: Option<HttpRequest>,
    #[serde(default)]
    pub response: Option<HttpResponse>,
}

/// `http.request`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HttpRequest {
    pub method: Option<Value>,
    pub url: Option<Value>,
    pub user_agent: Option<Value>,
    pub client_ip: Option<Value>,
    pub traced: Option<Value>,
}

/// `http.response`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HttpResponse {
    pub status: Option<Value>,
    pub content_length: Option<Value>,
}

/// `aws`: a downstream AWS call's fields, and a segment's resource.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Aws {
    pub operation: Option<Value>,
    pub account_id: Option<Value>,
    pub region: Option<Value>,
    pub request_id: Option<Value>,
    pub queue_url: Option<Value>,
    pub table_name: Option<Value>,
    pub retries: Option<Value>,
    #[serde(default)]
    pub xray: Option<AwsXRay>,
    #[serde(default)]
    pub ec2: Option<AwsEc2>,
    #[serde(default)]
    pub ecs: Option<AwsEcs>,
    #[serde(default)]
    pub eks: Option<AwsEks>,
}

/// `aws.xray`: the SDK.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AwsXRay {
    pub sdk: Option<Value>,
    pub sdk_version: Option<Value>,
}

/// `aws.ec2`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AwsEc2 {
    pub instance_id: Option<Value>,
    pub instance_size: Option<Value>,
    pub availability_zone: Option<Value>,
}

/// `aws.ecs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AwsEcs {
    pub container: Option<Value>,
    pub container_id: Option<Value>,
}

/// `aws.eks`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AwsEks {
    pub cluster_name: Option<Value>,
    pub pod: Option<Value>,
}

/// `sql`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Sql {
    pub url: Option<Value>,
    pub database_type: Option<Value>,
    pub sanitized_query: Option<Value>,
    pub user: Option<Value>,
    pub database_version: Option<Value>,
}

/// `service`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Service {
    pub version: Option<Value>,
}

/// `cause`: an exception id (the exception is recorded elsewhere in the trace), or details.
#[derive(Debug)]
pub(crate) enum Cause<'a> {
    /// An exception id.
    Id(Cow<'a, str>),
    /// The exceptions (the working directory and paths are not mapped).
    Details(Vec<Exception<'a>>),
}

#[derive(Deserialize)]
struct CauseDetails<'a> {
    #[serde(borrow, default)]
    exceptions: Option<Vec<Exception<'a>>>,
}

impl<'a> Cause<'a> {
    /// The cause in `raw`; `None` when it is neither a string nor an object of that shape.
    pub(crate) fn read(raw: &'a RawValue) -> Option<Self> {
        let text = raw.get();
        if text.starts_with('"') {
            serde_json::from_str(text).ok().map(Cause::Id)
        } else {
            let details: CauseDetails<'a> = serde_json::from_str(text).ok()?;
            Some(Cause::Details(details.exceptions.unwrap_or_default()))
        }
    }
}

/// One exception of a `cause`.
#[derive(Debug, Deserialize)]
pub(crate) struct Exception<'a> {
    pub id: Option<Value>,
    pub message: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub remote: Option<Value>,
    #[serde(borrow, default)]
    pub stack: Option<&'a RawValue>,
}
