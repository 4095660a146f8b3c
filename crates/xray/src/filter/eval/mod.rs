//! Evaluates a parsed filter expression against one trace.
//!
//! Every keyword reads a list of values from its subject: the trace as a whole (the entry
//! segment for `ok`, `fault`, `responsetime`, `http.*`; any segment for `throttle`, `partial`,
//! `user`, annotations), a node's segment inside `service(){…}`, the caller's subsegment inside
//! `edge(){…}`, or a root-cause service, entity or exception inside `rootcause.*{…}`. A bare
//! boolean keyword holds when a value is `true`; any other bare keyword when a value exists; a
//! comparison when any value satisfies it (a value of another type never does).

use crate::filter::ast::{
    Comparison, Field, Filter, Keyword, NodeRef, Operator, RootCauseKind, RootCauseLevel, Value,
};
use serde_json::Value as Json;

use crate::analysis::{Node, TraceGraph};
use crate::rootcause::{root_causes, RootCauses};
use crate::trace::{Entity, XTrace};

/// How deep `group.name` references may nest before they count as a cycle.
const MAX_GROUP_DEPTH: usize = 8;

/// Looks a group's filter up by name or ARN: `Some(None)` is a group without a filter
/// (every trace), `None` an unknown group.
pub type GroupLookup<'l> = dyn Fn(&str) -> Option<Option<Filter>> + Sync + 'l;

/// A trace ready for filters: its graph and, once asked for, its root causes.
pub struct Evaluated<'a> {
    /// The trace.
    pub trace: &'a XTrace,
    /// Its graph.
    pub graph: TraceGraph<'a>,
    causes: std::cell::OnceCell<RootCauses>,
}

impl<'a> Evaluated<'a> {
    /// Prepares a trace.
    pub fn new(trace: &'a XTrace) -> Self {
        Self {
            trace,
            graph: TraceGraph::of(trace),
            causes: std::cell::OnceCell::new(),
        }
    }

    /// Its root causes, computed once.
    pub fn causes(&self) -> &RootCauses {
        self.causes
            .get_or_init(|| root_causes(self.trace, &self.graph))
    }

    /// Whether the trace matches `filter`; `groups` resolves `group.name`/`group.arn`.
    pub fn matches(&self, filter: &Filter, groups: &GroupLookup<'_>) -> bool {
        Evaluator {
            evaluated: self,
            groups,
            depth: 0,
        }
        .eval(filter, &Subject::Trace)
    }
}

enum Subject<'a> {
    Trace,
    Segment {
        entity: Entity<'a>,
        node: &'a Node,
        root: bool,
    },
    Call(Entity<'a>),
    CauseService(&'a Json, usize, bool),
    CauseEntity(&'a Json, bool),
    CauseException(&'a Json),
}

#[derive(Debug, Clone)]
enum Val {
    Num(f64),
    Text(String),
    Bool(bool),
}

fn json_val(value: &Json) -> Option<Val> {
    match value {
        Json::Bool(b) => Some(Val::Bool(*b)),
        Json::Number(n) => n.as_f64().map(Val::Num),
        Json::String(s) => Some(Val::Text(s.clone())),
        _ => None,
    }
}

fn text(value: Option<&str>) -> Vec<Val> {
    value.map(|t| Val::Text(t.to_owned())).into_iter().collect()
}

fn satisfies(found: &Val, operator: Operator, wanted: &Value) -> bool {
    match (found, wanted) {
        (Val::Num(a), Value::Number(b)) => match operator {
            Operator::Eq => a == b,
            Operator::Ne => a != b,
            Operator::Lt => a < b,
            Operator::Le => a <= b,
            Operator::Gt => a > b,
            Operator::Ge => a >= b,
            _ => false,
        },
        (Val::Text(a), Value::Text(b)) => match operator {
            Operator::Eq => a == b,
            Operator::Ne => a != b,
            Operator::Contains => a.contains(b.as_str()),
            Operator::BeginsWith => a.starts_with(b.as_str()),
            Operator::EndsWith => a.ends_with(b.as_str()),
            _ => false,
        },
        (Val::Bool(a), Value::Bool(b)) => match operator {
            Operator::Eq => a == b,
            Operator::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

pub(crate) fn node_matches(node: &Node, reference: &NodeRef) -> bool {
    reference.name.as_ref().is_none_or(|n| *n == node.name)
        && reference
            .node_type
            .as_ref()
            .is_none_or(|t| node.node_type.as_ref() == Some(t))
        && reference
            .account_id
            .as_ref()
            .is_none_or(|a| node.account_id.as_ref() == Some(a))
}

/// Whether `value` has everything `pattern` has (objects by key, arrays element by element in
/// order, scalars equal).
fn json_contains(value: &Json, pattern: &Json) -> bool {
    match (value, pattern) {
        (Json::Object(v), Json::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| json_contains(vv, pv))),
        (Json::Array(v), Json::Array(p)) => {
            let mut items = v.iter();
            p.iter().all(|pv| items.any(|vv| json_contains(vv, pv)))
        }
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        _ => value == pattern,
    }
}

struct Evaluator<'e, 'a> {
    evaluated: &'e Evaluated<'a>,
    groups: &'e GroupLookup<'e>,
    depth: usize,
}

impl<'e, 'a> Evaluator<'e, 'a> {
    fn eval(&self, filter: &Filter, subject: &Subject<'_>) -> bool {
        match filter {
            Filter::Or(parts) => parts.iter().any(|f| self.eval(f, subject)),
            Filter::And(parts) => parts.iter().all(|f| self.eval(f, subject)),
            Filter::Not(inner) => !self.eval(inner, subject),
            Filter::Compare(comparison) => self.compare(comparison, subject),
            Filter::Service { node, filter } => self.service(node.as_ref(), filter.as_deref()),
            Filter::Edge { from, to, filter } => self.edge(from, to, filter.as_deref()),
            Filter::RootCause {
                kind,
                level,
                filter,
            } => self.root_cause(*kind, *level, filter),
            Filter::RootCauseJson(patterns) => {
                let causes = self.evaluated.causes();
                let all = causes
                    .fault
                    .iter()
                    .chain(&causes.error)
                    .chain(&causes.response_time);
                all.clone()
                    .any(|cause| patterns.iter().any(|p| json_contains(cause, p)))
            }
        }
    }

    fn compare(&self, comparison: &Comparison, subject: &Subject<'_>) -> bool {
        if let Field::Keyword(keyword @ (Keyword::GroupName | Keyword::GroupArn)) = comparison.field
        {
            return self.group(keyword, comparison.test.as_ref());
        }
        let values = self.values(&comparison.field, subject);
        match &comparison.test {
            None => match &comparison.field {
                Field::Keyword(k) if k.kind() == crate::filter::ast::ValueKind::Boolean => {
                    values.iter().any(|v| matches!(v, Val::Bool(true)))
                }
                _ => !values.is_empty(),
            },
            Some((operator, wanted)) => values.iter().any(|v| satisfies(v, *operator, wanted)),
        }
    }

    /// `group.name = "x"`: the trace is in a group whose name (or ARN) satisfies the test.
    fn group(&self, keyword: Keyword, test: Option<&(Operator, Value)>) -> bool {
        let Some((operator, wanted)) = test else {
            return false;
        };
        if self.depth >= MAX_GROUP_DEPTH {
            return false;
        }
        let Value::Text(name) = wanted else {
            return false;
        };
        let _ = keyword;
        let inner = Evaluator {
            depth: self.depth + 1,
            ..*self
        };
        let in_group = match (self.groups)(name) {
            Some(None) => true,
            Some(Some(filter)) => inner.eval(&filter, &Subject::Trace),
            None => false,
        };
        match operator {
            Operator::Ne => !in_group,
            _ => in_group,
        }
    }

    fn service(&self, node: Option<&NodeRef>, filter: Option<&Filter>) -> bool {
        let graph = &self.evaluated.graph;
        graph.hops.iter().any(|hop| {
            let candidate = &graph.nodes[hop.node];
            node.is_none_or(|n| node_matches(candidate, n))
                && filter.is_none_or(|f| {
                    let subject = Subject::Segment {
                        entity: hop.entity,
                        node: candidate,
                        root: hop.root,
                    };
                    self.eval(f, &subject)
                })
        })
    }

    fn edge(&self, from: &NodeRef, to: &NodeRef, filter: Option<&Filter>) -> bool {
        let graph = &self.evaluated.graph;
        graph.calls.iter().any(|call| {
            node_matches(&graph.nodes[call.from], from)
                && node_matches(&graph.nodes[call.to], to)
                && filter.is_none_or(|f| self.eval(f, &Subject::Call(call.call)))
        })
    }

    fn root_cause(&self, kind: RootCauseKind, level: RootCauseLevel, filter: &Filter) -> bool {
        let causes = self.evaluated.causes();
        let list = match kind {
            RootCauseKind::Fault => &causes.fault,
            RootCauseKind::Error => &causes.error,
            RootCauseKind::ResponseTime => &causes.response_time,
        };
        let services = list
            .iter()
            .filter_map(|c| c.get("Services").and_then(Json::as_array));
        services.clone().any(|services| {
            let last_service = services.len().saturating_sub(1);
            let is_last = |index: usize| index == last_service;
            services.iter().enumerate().any(|(index, service)| {
                let entities = service
                    .get("EntityPath")
                    .and_then(Json::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                match level {
                    RootCauseLevel::Service => self.eval(
                        filter,
                        &Subject::CauseService(service, index, is_last(index)),
                    ),
                    RootCauseLevel::Entity => entities.iter().enumerate().any(|(i, entity)| {
                        let last = is_last(index) && i + 1 == entities.len();
                        self.eval(filter, &Subject::CauseEntity(entity, last))
                    }),
                    RootCauseLevel::Exception => entities
                        .iter()
                        .filter_map(|e| e.get("Exceptions").and_then(Json::as_array))
                        .flatten()
                        .any(|exception| self.eval(filter, &Subject::CauseException(exception))),
                }
            })
        })
    }
}

mod groups;
mod values;

pub use groups::check_group_references;
