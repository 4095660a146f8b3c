//! Root causes, as TraceSummary reports them and `rootcause.*` filters read them. AWS does not
//! publish its algorithm; ours:
//! - fault and error: the deepest flagged entities (following subsegments and the calls into
//!   other services), each with the path from the entry segment to it;
//! - response time: from the entry segment, follow the child that takes the most time while it
//!   covers at least half of its parent, and report that path with each entity's share
//!   (`Coverage`) of the entry segment's time.
//!
//! Paths are grouped into services in X-Ray's shape (`Services[].EntityPath[]`), with an
//! inferred service at the end when the cause is an uninstrumented downstream.

use serde_json::{json, Value};

use crate::analysis::TraceGraph;
use crate::trace::{Entity, XTrace};

/// Most root causes of one kind reported per trace.
const MAX_CAUSES: usize = 10;
/// Deepest path followed.
const MAX_DEPTH: usize = 512;

/// A trace's root causes, as X-Ray JSON (`FaultRootCause`, `ErrorRootCause`,
/// `ResponseTimeRootCause`).
#[derive(Debug, Clone, Default)]
pub struct RootCauses {
    /// Faults (5xx).
    pub fault: Vec<Value>,
    /// Errors (4xx).
    pub error: Vec<Value>,
    /// Where the time went.
    pub response_time: Vec<Value>,
}

#[derive(Clone, Copy)]
struct Step<'a> {
    node: usize,
    entity: Entity<'a>,
}

struct Walker<'t, 'a> {
    trace: &'a XTrace,
    graph: &'t TraceGraph<'a>,
}

impl<'a> Walker<'_, 'a> {
    fn segment_node(&self, id: &str) -> Option<usize> {
        self.graph
            .hops
            .iter()
            .find(|h| !self.graph.nodes[h.node].inferred && h.entity.id() == Some(id))
            .map(|h| h.node)
    }

    /// Subsegments, then segments called by the entity, then the inferred node it calls.
    fn children(&self, step: Step<'a>) -> Vec<Step<'a>> {
        if self.graph.nodes[step.node].inferred {
            return Vec::new();
        }
        let mut out: Vec<Step<'a>> = step
            .entity
            .children()
            .map(|entity| Step {
                node: step.node,
                entity,
            })
            .collect();
        let Some(id) = step.entity.id() else {
            return out;
        };
        let before = out.len();
        for callee in self.trace.callees(id) {
            if let Some(node) = callee.entity().id().and_then(|i| self.segment_node(i)) {
                out.push(Step {
                    node,
                    entity: callee.entity(),
                });
            }
        }
        if out.len() == before && step.entity.is_remote() {
            let inferred = self
                .graph
                .calls
                .iter()
                .find(|c| c.call.id() == Some(id) && self.graph.nodes[c.to].inferred);
            if let Some(call) = inferred {
                out.push(Step {
                    node: call.to,
                    entity: step.entity,
                });
            }
        }
        out
    }

    fn flagged_leaves(
        &self,
        step: Step<'a>,
        flag: fn(&Entity<'_>) -> bool,
        path: &mut Vec<Step<'a>>,
        out: &mut Vec<Vec<Step<'a>>>,
    ) {
        if out.len() >= MAX_CAUSES || path.len() >= MAX_DEPTH {
            return;
        }
        path.push(step);
        let flagged_children: Vec<Step<'a>> = self
            .children(step)
            .into_iter()
            .filter(|c| flag(&c.entity))
            .collect();
        if flagged_children.is_empty() {
            if flag(&step.entity) {
                out.push(path.clone());
            }
        } else {
            for child in flagged_children {
                self.flagged_leaves(child, flag, path, out);
            }
        }
        path.pop();
    }

    fn slowest_path(&self, root: Step<'a>) -> Vec<Step<'a>> {
        let mut path = vec![root];
        let mut current = root;
        while path.len() < MAX_DEPTH {
            let slowest = self
                .children(current)
                .into_iter()
                .max_by(|a, b| a.entity.duration().total_cmp(&b.entity.duration()));
            match slowest {
                Some(child) if child.entity.duration() >= 0.5 * current.entity.duration() => {
                    path.push(child);
                    current = child;
                }
                _ => break,
            }
        }
        path
    }

    /// Groups a path into X-Ray's `Services[].EntityPath[]`.
    fn services(&self, path: &[Step<'a>], entity_json: impl Fn(&Step<'a>) -> Value) -> Vec<Value> {
        let mut services: Vec<Value> = Vec::new();
        let mut last_node = None;
        for step in path {
            if last_node != Some(step.node) {
                let node = &self.graph.nodes[step.node];
                let mut service = json!({
                    "Name": node.name,
                    "Names": [node.name],
                    "Inferred": node.inferred,
                    "EntityPath": [],
                });
                if let Some(kind) = &node.node_type {
                    service["Type"] = json!(kind);
                }
                if let Some(account) = &node.account_id {
                    service["AccountId"] = json!(account);
                }
                services.push(service);
                last_node = Some(step.node);
            }
            if let Some(Value::Array(entities)) =
                services.last_mut().and_then(|s| s.get_mut("EntityPath"))
            {
                entities.push(entity_json(step));
            }
        }
        services
    }
}

/// An entity's name in a path: an inferred node's step is named after the node.
fn step_name(graph: &TraceGraph<'_>, step: &Step<'_>) -> String {
    let node = &graph.nodes[step.node];
    if node.inferred {
        node.name.clone()
    } else {
        step.entity.name().to_owned()
    }
}

fn exception_entity(graph: &TraceGraph<'_>, step: &Step<'_>) -> Value {
    let exceptions: Vec<Value> = step
        .entity
        .exceptions()
        .map(|(kind, message)| json!({ "Name": kind, "Message": message }))
        .collect();
    json!({
        "Name": step_name(graph, step),
        "Exceptions": exceptions,
        "Remote": step.entity.is_remote(),
    })
}

/// Computes a trace's root causes.
pub(crate) fn root_causes(trace: &XTrace, graph: &TraceGraph<'_>) -> RootCauses {
    let walker = Walker { trace, graph };
    let Some(root) = trace.root() else {
        return RootCauses::default();
    };
    let Some(root_node) = root.entity().id().and_then(|id| walker.segment_node(id)) else {
        return RootCauses::default();
    };
    let start = Step {
        node: root_node,
        entity: root.entity(),
    };
    let flagged = |flag: fn(&Entity<'_>) -> bool| -> Vec<Value> {
        let mut paths = Vec::new();
        walker.flagged_leaves(start, flag, &mut Vec::new(), &mut paths);
        paths
            .iter()
            .map(|path| {
                json!({
                    "Services": walker.services(path, |step| exception_entity(graph, step)),
                    "ClientImpacting": flag(&start.entity),
                })
            })
            .collect()
    };
    let fault = flagged(|e| e.fault());
    let error = flagged(|e| e.error());
    let total = start.entity.duration();
    let slowest = walker.slowest_path(start);
    let response_time = if slowest.len() > 1 && total > 0.0 {
        let services = walker.services(&slowest, |step| {
            json!({
                "Name": step_name(graph, step),
                "Coverage": (step.entity.duration() / total).min(1.0),
                "Remote": step.entity.is_remote(),
            })
        });
        vec![json!({ "Services": services, "ClientImpacting": true })]
    } else {
        Vec::new()
    };
    RootCauses {
        fault,
        error,
        response_time,
    }
}
