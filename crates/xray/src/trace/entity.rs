//! Read access to one entity (a segment or subsegment document): the fields summaries, filters
//! and graphs need, with X-Ray's meaning.

use serde_json::{Map, Value};

/// A segment or subsegment document.
#[derive(Debug, Clone, Copy)]
pub struct Entity<'a>(pub &'a Map<String, Value>);

impl<'a> Entity<'a> {
    fn text(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.0.get(key) == Some(&Value::Bool(true))
    }

    fn path(&self, path: &[&str]) -> Option<&'a Value> {
        let (first, rest) = path.split_first()?;
        rest.iter().try_fold(self.0.get(*first)?, |v, k| v.get(*k))
    }

    /// `id`.
    pub fn id(&self) -> Option<&'a str> {
        self.text("id")
    }

    /// `name`.
    pub fn name(&self) -> &'a str {
        self.text("name").unwrap_or_default()
    }

    /// `parent_id`.
    pub fn parent_id(&self) -> Option<&'a str> {
        self.text("parent_id")
    }

    /// `origin`: the node type of a segment.
    pub fn origin(&self) -> Option<&'a str> {
        self.text("origin")
    }

    /// `namespace`: `aws` or `remote` for a downstream call.
    pub fn namespace(&self) -> Option<&'a str> {
        self.text("namespace")
    }

    /// A subsegment sent on its own.
    pub fn is_streamed_subsegment(&self) -> bool {
        self.text("type") == Some("subsegment")
    }

    /// Whether this entity calls something outside the service.
    pub fn is_remote(&self) -> bool {
        matches!(self.namespace(), Some("aws" | "remote"))
    }

    /// `start_time`, epoch seconds.
    pub fn start(&self) -> f64 {
        self.0
            .get("start_time")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }

    /// `end_time`, or the start while in progress.
    pub fn end(&self) -> f64 {
        self.0
            .get("end_time")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| self.start())
    }

    /// End minus start, in seconds.
    pub fn duration(&self) -> f64 {
        (self.end() - self.start()).max(0.0)
    }

    /// `in_progress`.
    pub fn in_progress(&self) -> bool {
        self.flag("in_progress")
    }

    /// `fault`: a 5xx.
    pub fn fault(&self) -> bool {
        self.flag("fault")
    }

    /// `error`: a 4xx.
    pub fn error(&self) -> bool {
        self.flag("error")
    }

    /// `throttle`: a 429.
    pub fn throttle(&self) -> bool {
        self.flag("throttle")
    }

    /// `http.response.status`.
    pub fn http_status(&self) -> Option<f64> {
        self.path(&["http", "response", "status"])
            .and_then(Value::as_f64)
    }

    /// A field of `http.request`.
    pub fn http_request(&self, field: &str) -> Option<&'a str> {
        self.path(&["http", "request", field])
            .and_then(Value::as_str)
    }

    /// `user`.
    pub fn user(&self) -> Option<&'a str> {
        self.text("user")
    }

    /// `resource_arn`.
    pub fn resource_arn(&self) -> Option<&'a str> {
        self.text("resource_arn")
    }

    /// `aws.ec2.instance_id`.
    pub fn instance_id(&self) -> Option<&'a str> {
        self.path(&["aws", "ec2", "instance_id"])
            .and_then(Value::as_str)
    }

    /// `aws.ec2.availability_zone`.
    pub fn availability_zone(&self) -> Option<&'a str> {
        self.path(&["aws", "ec2", "availability_zone"])
            .and_then(Value::as_str)
    }

    /// `aws.table_name` or the last part of `aws.queue_url`: what an AWS call acts on.
    pub fn aws_resource(&self) -> Option<&'a str> {
        if let Some(table) = self.path(&["aws", "table_name"]).and_then(Value::as_str) {
            return Some(table);
        }
        let queue = self.path(&["aws", "queue_url"]).and_then(Value::as_str)?;
        queue.rsplit('/').next().filter(|q| !q.is_empty())
    }

    /// `aws.account_id`.
    pub fn account_id(&self) -> Option<&'a str> {
        self.path(&["aws", "account_id"]).and_then(Value::as_str)
    }

    /// `annotations`.
    pub fn annotations(&self) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.0
            .get("annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// Exceptions of `cause`: `(type, message)`.
    pub fn exceptions(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.path(&["cause", "exceptions"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                (field("type"), field("message"))
            })
    }

    /// Direct subsegments.
    pub fn children(&self) -> impl Iterator<Item = Entity<'a>> + 'a {
        self.0
            .get("subsegments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(Entity)
    }

    /// This entity and every subsegment below it, depth first.
    pub fn descendants(&self) -> Vec<Entity<'a>> {
        let mut out = vec![*self];
        let mut index = 0;
        while index < out.len() {
            let children: Vec<Entity<'a>> = out[index].children().collect();
            out.extend(children);
            index += 1;
        }
        out
    }

    /// Ids of this entity and its subsegments.
    pub fn all_ids(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.descendants().into_iter().filter_map(|e| e.id())
    }
}

/// Puts `child` into the `subsegments` of the entity with id `parent` inside `document`;
/// returns whether it found the parent.
pub(super) fn insert_child(
    document: &mut Map<String, Value>,
    parent: &str,
    child: &Map<String, Value>,
) -> bool {
    if document.get("id").and_then(Value::as_str) == Some(parent) {
        let mut child = child.clone();
        // Inside its parent it is an ordinary subsegment again.
        for field in ["type", "parent_id", "trace_id"] {
            child.remove(field);
        }
        let list = document
            .entry("subsegments")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(Value::Object(child));
            return true;
        }
        return false;
    }
    let Some(Value::Array(children)) = document.get_mut("subsegments") else {
        return false;
    };
    children
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .any(|c| insert_child(c, parent, child))
}
