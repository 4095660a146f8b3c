//! What a trace looks like as a graph: nodes (services, and inferred downstream AWS or remote
//! nodes), the segments of each node, and the calls between nodes. Filters (`service()`,
//! `edge()`), summaries and the service graph all read this.

use crate::trace::{Entity, XTrace};

/// A node of the service graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    /// Service name (segment name), or the called resource for an inferred node.
    pub name: String,
    /// `origin` (`AWS::EC2::Instance`, …), `AWS::<service>` or `remote` for inferred nodes.
    pub node_type: Option<String>,
    /// `aws.account_id`, when the segment says.
    pub account_id: Option<String>,
    /// Not instrumented: known only from a caller's subsegment.
    pub inferred: bool,
}

/// One appearance of a node in the trace: a segment, or for an inferred node the call to it.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// Index into [`TraceGraph::nodes`].
    pub node: usize,
    /// The segment (or calling subsegment).
    pub entity: Entity<'a>,
    /// The trace's entry segment.
    pub root: bool,
}

/// A call from one node to another, seen from the caller's subsegment.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Caller node.
    pub from: usize,
    /// Callee node.
    pub to: usize,
    /// The caller's subsegment (round trip as the caller saw it).
    pub call: Entity<'a>,
}

/// A trace as nodes, hops and calls.
#[derive(Debug, Clone)]
pub struct TraceGraph<'a> {
    /// Distinct nodes.
    pub nodes: Vec<Node>,
    /// Segments of nodes.
    pub hops: Vec<Hop<'a>>,
    /// Calls between nodes.
    pub calls: Vec<Call<'a>>,
}

/// The name of an inferred node called by `call`: the table (or queue) for an AWS call,
/// otherwise the subsegment's name.
pub fn inferred_name(call: Entity<'_>) -> String {
    if call.namespace() == Some("aws") {
        if let Some(resource) = call.aws_resource() {
            return resource.to_owned();
        }
    }
    call.name().to_owned()
}

/// The node type of an inferred node called by `call`.
pub fn inferred_type(call: Entity<'_>) -> String {
    match call.namespace() {
        Some("aws") => format!("AWS::{}", call.name()),
        _ => "remote".to_owned(),
    }
}

impl<'a> TraceGraph<'a> {
    fn node(&mut self, node: Node) -> usize {
        match self.nodes.iter().position(|n| *n == node) {
            Some(index) => index,
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// The graph of one trace.
    pub fn of(trace: &'a XTrace) -> Self {
        let mut graph = Self {
            nodes: Vec::new(),
            hops: Vec::new(),
            calls: Vec::new(),
        };
        let root_id = trace.root().and_then(|r| r.entity().id());
        let mut segment_nodes = Vec::with_capacity(trace.segments.len());
        for segment in &trace.segments {
            let entity = segment.entity();
            let node = graph.node(Node {
                name: entity.name().to_owned(),
                node_type: entity.origin().map(str::to_owned),
                account_id: entity.account_id().map(str::to_owned),
                inferred: false,
            });
            segment_nodes.push(node);
            graph.hops.push(Hop {
                node,
                entity,
                root: entity.id().is_some() && entity.id() == root_id,
            });
        }
        for (segment, &from) in trace.segments.iter().zip(&segment_nodes) {
            for entity in segment.entity().descendants() {
                let Some(id) = entity.id() else { continue };
                let mut called = false;
                for (index, callee) in trace.segments.iter().enumerate() {
                    if callee.entity().parent_id() == Some(id) {
                        called = true;
                        graph.calls.push(Call {
                            from,
                            to: segment_nodes[index],
                            call: entity,
                        });
                    }
                }
                if !called && entity.is_remote() {
                    let to = graph.node(Node {
                        name: inferred_name(entity),
                        node_type: Some(inferred_type(entity)),
                        account_id: None,
                        inferred: true,
                    });
                    graph.hops.push(Hop {
                        node: to,
                        entity,
                        root: false,
                    });
                    graph.calls.push(Call {
                        from,
                        to,
                        call: entity,
                    });
                }
            }
        }
        graph
    }
}
