//! What each keyword reads from each kind of subject (see `eval`).

use crate::filter::ast::{Field, Keyword};
use serde_json::Value as Json;

use super::{json_val, text, Evaluator, Subject, Val};
use crate::trace::Entity;

/// Keywords that read one entity the same way wherever it stands.
fn entity_value(entity: Entity<'_>, keyword: Keyword) -> Option<Vec<Val>> {
    let flag = |b: bool| vec![Val::Bool(b)];
    Some(match keyword {
        Keyword::Ok => flag(!entity.fault() && !entity.error()),
        Keyword::Error => flag(entity.error()),
        Keyword::Fault => flag(entity.fault()),
        Keyword::Throttle => flag(entity.throttle()),
        Keyword::Partial => flag(entity.in_progress()),
        Keyword::Remote => flag(entity.is_remote()),
        Keyword::ResponseTime | Keyword::Duration => vec![Val::Num(entity.duration())],
        Keyword::HttpStatus => entity.http_status().map(Val::Num).into_iter().collect(),
        Keyword::HttpUrl => text(entity.http_request("url")),
        Keyword::HttpMethod => text(entity.http_request("method")),
        Keyword::HttpUserAgent => text(entity.http_request("user_agent")),
        Keyword::HttpClientIp => text(entity.http_request("client_ip")),
        Keyword::AvailabilityZone => text(entity.availability_zone()),
        Keyword::InstanceId => text(entity.instance_id()),
        Keyword::ResourceArn => text(entity.resource_arn()),
        _ => return None,
    })
}

/// Values of an annotation on these entities and everything below them.
fn annotations<'a>(entities: impl Iterator<Item = Entity<'a>>, key: &str) -> Vec<Val> {
    entities
        .flat_map(|e| e.descendants())
        .flat_map(|e| e.annotations())
        .filter(|(k, _)| k.as_str() == key)
        .filter_map(|(_, v)| json_val(v))
        .collect()
}

fn cause_field(value: &Json, field: &str) -> Vec<Val> {
    value.get(field).and_then(json_val).into_iter().collect()
}

impl Evaluator<'_, '_> {
    pub(super) fn values(&self, field: &Field, subject: &Subject<'_>) -> Vec<Val> {
        let keyword = match field {
            Field::Annotation(key) => return self.annotation_values(key, subject),
            Field::Keyword(keyword) => *keyword,
        };
        match subject {
            Subject::Trace => self.trace_values(keyword),
            Subject::Segment { entity, node, root } => match keyword {
                Keyword::Root => vec![Val::Bool(*root)],
                Keyword::Inferred => vec![Val::Bool(node.inferred)],
                Keyword::Name => vec![Val::Text(node.name.clone())],
                Keyword::Type => node.node_type.clone().map(Val::Text).into_iter().collect(),
                Keyword::User => entity
                    .descendants()
                    .iter()
                    .filter_map(|e| e.user())
                    .map(|u| Val::Text(u.into()))
                    .collect(),
                Keyword::Message => entity
                    .descendants()
                    .iter()
                    .flat_map(|e| {
                        e.exceptions()
                            .map(|(_, m)| Val::Text(m.into()))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
                other => entity_value(*entity, other).unwrap_or_default(),
            },
            Subject::Call(entity) => match keyword {
                Keyword::Root => vec![Val::Bool(false)],
                Keyword::Inferred => vec![Val::Bool(false)],
                Keyword::Name => vec![Val::Text(entity.name().into())],
                Keyword::Type => Vec::new(),
                Keyword::User => text(entity.user()),
                Keyword::Message => entity
                    .exceptions()
                    .map(|(_, m)| Val::Text(m.into()))
                    .collect(),
                other => entity_value(*entity, other).unwrap_or_default(),
            },
            Subject::CauseService(service, index, last) => match keyword {
                Keyword::Last => vec![Val::Bool(*last)],
                Keyword::Name => cause_field(service, "Name"),
                Keyword::Type => cause_field(service, "Type"),
                Keyword::Inferred => cause_field(service, "Inferred"),
                Keyword::Index => vec![Val::Num(*index as f64)],
                _ => Vec::new(),
            },
            Subject::CauseEntity(entity, last) => match keyword {
                Keyword::Name => cause_field(entity, "Name"),
                Keyword::Remote => cause_field(entity, "Remote"),
                Keyword::Coverage => cause_field(entity, "Coverage"),
                Keyword::Last => vec![Val::Bool(*last)],
                Keyword::Message => entity
                    .get("Exceptions")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|e| cause_field(e, "Message"))
                    .collect(),
                _ => Vec::new(),
            },
            Subject::CauseException(exception) => match keyword {
                Keyword::Name => cause_field(exception, "Name"),
                Keyword::Message => cause_field(exception, "Message"),
                _ => Vec::new(),
            },
        }
    }

    fn annotation_values(&self, key: &str, subject: &Subject<'_>) -> Vec<Val> {
        match subject {
            Subject::Trace => annotations(
                self.evaluated.trace.segments.iter().map(|s| s.entity()),
                key,
            ),
            Subject::Segment { entity, .. } | Subject::Call(entity) => {
                annotations(std::iter::once(*entity), key)
            }
            _ => Vec::new(),
        }
    }

    /// The trace as a whole: its entry segment for status, timing and HTTP; every segment for
    /// the rest.
    fn trace_values(&self, keyword: Keyword) -> Vec<Val> {
        let trace = self.evaluated.trace;
        let graph = &self.evaluated.graph;
        let every = || trace.segments.iter().flat_map(|s| s.entity().descendants());
        match keyword {
            Keyword::Duration => vec![Val::Num(trace.duration())],
            Keyword::Throttle => vec![Val::Bool(every().any(|e| e.throttle()))],
            Keyword::Partial => vec![Val::Bool(every().any(|e| e.in_progress()))],
            Keyword::Inferred => vec![Val::Bool(graph.nodes.iter().any(|n| n.inferred))],
            Keyword::Root => vec![Val::Bool(true)],
            Keyword::User => every()
                .filter_map(|e| e.user())
                .map(|u| Val::Text(u.into()))
                .collect(),
            Keyword::Name => graph
                .nodes
                .iter()
                .map(|n| Val::Text(n.name.clone()))
                .collect(),
            Keyword::Type => graph
                .nodes
                .iter()
                .filter_map(|n| n.node_type.clone())
                .map(Val::Text)
                .collect(),
            Keyword::Message => every()
                .flat_map(|e| {
                    e.exceptions()
                        .map(|(_, m)| Val::Text(m.into()))
                        .collect::<Vec<_>>()
                })
                .collect(),
            Keyword::AvailabilityZone | Keyword::InstanceId | Keyword::ResourceArn => trace
                .segments
                .iter()
                .flat_map(|s| entity_value(s.entity(), keyword).unwrap_or_default())
                .collect(),
            Keyword::First
            | Keyword::Last
            | Keyword::Remote
            | Keyword::Index
            | Keyword::Coverage => Vec::new(),
            other => trace
                .root()
                .and_then(|root| entity_value(root.entity(), other))
                .unwrap_or_default(),
        }
    }
}
