//! `TraceSummary`: what GetTraceSummaries says about one trace.

use serde_json::{json, Map, Value};

use crate::analysis::Node;
use crate::filter::eval::Evaluated;

/// `ServiceId` of a node.
pub(crate) fn service_id(node: &Node) -> Value {
    let mut id = json!({ "Name": node.name, "Names": [node.name] });
    if let Some(kind) = &node.node_type {
        id["Type"] = json!(kind);
    }
    if let Some(account) = &node.account_id {
        id["AccountId"] = json!(account);
    }
    id
}

fn annotation_value(value: &Value) -> Option<Value> {
    match value {
        Value::Bool(b) => Some(json!({ "BooleanValue": b })),
        Value::Number(n) => Some(json!({ "NumberValue": n.as_f64() })),
        Value::String(s) => Some(json!({ "StringValue": s })),
        _ => None,
    }
}

fn push_unique(list: &mut Vec<Value>, value: Value) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Annotations and users over every segment, each value with the services that set it.
fn annotations_and_users(evaluated: &Evaluated<'_>) -> (Map<String, Value>, Vec<Value>) {
    let graph = &evaluated.graph;
    let mut annotations: Map<String, Value> = Map::new();
    let mut users: Vec<(String, Vec<Value>)> = Vec::new();
    for hop in graph.hops.iter().filter(|h| !graph.nodes[h.node].inferred) {
        let service = service_id(&graph.nodes[hop.node]);
        for entity in hop.entity.descendants() {
            for (key, value) in entity.annotations() {
                let Some(value) = annotation_value(value) else {
                    continue;
                };
                let list = annotations
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(entries) = list else {
                    continue;
                };
                match entries.iter_mut().find(|e| e["AnnotationValue"] == value) {
                    Some(entry) => {
                        if let Value::Array(ids) = &mut entry["ServiceIds"] {
                            push_unique(ids, service.clone());
                        }
                    }
                    None => entries
                        .push(json!({ "AnnotationValue": value, "ServiceIds": [service.clone()] })),
                }
            }
            if let Some(user) = entity.user() {
                match users.iter_mut().find(|(name, _)| name == user) {
                    Some((_, ids)) => push_unique(ids, service.clone()),
                    None => users.push((user.to_owned(), vec![service.clone()])),
                }
            }
        }
    }
    let users = users
        .into_iter()
        .map(|(name, ids)| json!({ "UserName": name, "ServiceIds": ids }))
        .collect();
    (annotations, users)
}

/// The summary of one trace.
pub(crate) fn trace_summary(evaluated: &Evaluated<'_>) -> Value {
    let trace = evaluated.trace;
    let graph = &evaluated.graph;
    let root = trace.root().map(|s| s.entity());
    let every: Vec<_> = trace
        .segments
        .iter()
        .flat_map(|s| s.entity().descendants())
        .collect();
    let (annotations, users) = annotations_and_users(evaluated);
    let mut summary = json!({
        "Id": trace.xray_id(),
        "StartTime": trace.start(),
        "Duration": trace.duration(),
        "HasFault": root.is_some_and(|r| r.fault()),
        "HasError": root.is_some_and(|r| r.error()),
        "HasThrottle": every.iter().any(|e| e.throttle()),
        "IsPartial": every.iter().any(|e| e.in_progress()),
        "Annotations": annotations,
        "Users": users,
        "ServiceIds": graph.nodes.iter().map(service_id).collect::<Vec<_>>(),
        "Revision": trace.segments.len(),
    });
    if let Some(root) = root {
        summary["ResponseTime"] = json!(root.duration());
        let mut http = Map::new();
        for (key, field) in [
            ("HttpURL", "url"),
            ("HttpMethod", "method"),
            ("UserAgent", "user_agent"),
            ("ClientIp", "client_ip"),
        ] {
            if let Some(value) = root.http_request(field) {
                http.insert(key.into(), json!(value));
            }
        }
        if let Some(status) = root.http_status() {
            http.insert("HttpStatus".into(), json!(status as i64));
        }
        summary["Http"] = Value::Object(http);
    }
    if let Some(hop) = graph.hops.iter().find(|h| h.root) {
        summary["EntryPoint"] = service_id(&graph.nodes[hop.node]);
    }
    let mut arns = Vec::new();
    let mut instances = Vec::new();
    let mut zones = Vec::new();
    for segment in &trace.segments {
        let entity = segment.entity();
        if let Some(arn) = entity.resource_arn() {
            push_unique(&mut arns, json!({ "ARN": arn }));
        }
        if let Some(id) = entity.instance_id() {
            push_unique(&mut instances, json!({ "Id": id }));
        }
        if let Some(zone) = entity.availability_zone() {
            push_unique(&mut zones, json!({ "Name": zone }));
        }
    }
    summary["ResourceARNs"] = json!(arns);
    summary["InstanceIds"] = json!(instances);
    summary["AvailabilityZones"] = json!(zones);
    let causes = evaluated.causes();
    summary["FaultRootCauses"] = json!(causes.fault);
    summary["ErrorRootCauses"] = json!(causes.error);
    summary["ResponseTimeRootCauses"] = json!(causes.response_time);
    summary
}
