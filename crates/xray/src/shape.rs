//! What a service graph takes from one trace: its nodes, each node's appearances and the calls
//! between nodes, each reduced to the times and outcome the statistics count. Built from a
//! whole trace ([`TraceGraph`], when the documents are at hand) or from a few columns of its
//! spans ([`crate::facts`], for graphs over many traces); both must give the same shape.

use crate::filter::Filter;

use crate::analysis::{Node, TraceGraph};
use crate::filter::eval::node_matches;
use crate::trace::Entity;

/// The part of a segment or subsegment that statistics count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Start, epoch seconds.
    pub start: f64,
    /// End (the start while in progress).
    pub end: f64,
    /// A fault (5xx).
    pub fault: bool,
    /// An error (4xx).
    pub error: bool,
    /// A throttle (429).
    pub throttle: bool,
}

impl Sample {
    /// The entity's times and outcome.
    pub fn of(entity: Entity<'_>) -> Self {
        Self {
            start: entity.start(),
            end: entity.end(),
            fault: entity.fault(),
            error: entity.error(),
            throttle: entity.throttle(),
        }
    }

    /// End minus start, in seconds.
    pub fn duration(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }
}

/// One appearance of a node: a segment, or for an inferred node the call to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeHop {
    /// Index into [`TraceShape::nodes`].
    pub node: usize,
    /// The segment's (or calling subsegment's) sample.
    pub sample: Sample,
    /// The trace's entry segment.
    pub root: bool,
}

/// A call between nodes, as the caller's subsegment saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeCall {
    /// Caller node.
    pub from: usize,
    /// Callee node.
    pub to: usize,
    /// The calling subsegment's sample.
    pub sample: Sample,
}

/// A trace as its graph contributes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceShape {
    /// Distinct nodes.
    pub nodes: Vec<Node>,
    /// Appearances of nodes.
    pub hops: Vec<ShapeHop>,
    /// Calls between nodes.
    pub calls: Vec<ShapeCall>,
}

impl TraceShape {
    /// The shape of a trace's graph.
    pub fn of(graph: &TraceGraph<'_>) -> Self {
        Self {
            nodes: graph.nodes.clone(),
            hops: graph
                .hops
                .iter()
                .map(|hop| ShapeHop {
                    node: hop.node,
                    sample: Sample::of(hop.entity),
                    root: hop.root,
                })
                .collect(),
            calls: graph
                .calls
                .iter()
                .map(|call| ShapeCall {
                    from: call.from,
                    to: call.to,
                    sample: Sample::of(call.call),
                })
                .collect(),
        }
    }

    /// The index of `node`, added if new.
    pub(crate) fn node(&mut self, node: Node) -> usize {
        match self.nodes.iter().position(|n| *n == node) {
            Some(index) => index,
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }
}

/// Whether `filter` holds for the trace when all it asks is which nodes and calls the trace
/// has: `service(…)` and `edge(…)` without a block, under `AND`, `OR` and `!`. `None` when it
/// asks anything more, which needs the trace's documents.
pub fn shape_matches(filter: &Filter, shape: &TraceShape) -> Option<bool> {
    match filter {
        Filter::And(parts) => parts
            .iter()
            .map(|part| shape_matches(part, shape))
            .try_fold(true, |all, part| Some(all & part?)),
        Filter::Or(parts) => parts
            .iter()
            .map(|part| shape_matches(part, shape))
            .try_fold(false, |any, part| Some(any | part?)),
        Filter::Not(inner) => shape_matches(inner, shape).map(|holds| !holds),
        Filter::Service { node, filter: None } => Some(shape.hops.iter().any(|hop| {
            node.as_ref()
                .is_none_or(|n| node_matches(&shape.nodes[hop.node], n))
        })),
        Filter::Edge {
            from,
            to,
            filter: None,
        } => Some(shape.calls.iter().any(|call| {
            node_matches(&shape.nodes[call.from], from) && node_matches(&shape.nodes[call.to], to)
        })),
        _ => None,
    }
}
