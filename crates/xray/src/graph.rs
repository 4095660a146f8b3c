//! Service graphs (GetServiceGraph, GetTraceGraph) and per-period statistics
//! (GetTimeSeriesServiceStatistics), aggregated over traces.
//!
//! A node's statistics come from its own segments (an inferred node's from the calls to it);
//! an edge's from the caller's subsegments, as the caller saw the round trip. The client node
//! (type `client`, named after the entry service) has one edge to each entry service, with the
//! entry segments' statistics. Histograms are sparse: response times rounded to the millisecond
//! below one second and to 10 ms above.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::analysis::Node;
use crate::shape::{Sample, TraceShape};
use crate::summary::service_id;

/// OK/error/fault/throttle counts and total response time.
#[derive(Debug, Clone, Default)]
pub struct Statistics {
    ok: u64,
    error_throttle: u64,
    error_other: u64,
    fault: u64,
    total: u64,
    total_response_time: f64,
    histogram: BTreeMap<u64, u64>,
    start: f64,
    end: f64,
}

fn bucket_millis(seconds: f64) -> u64 {
    let millis = (seconds * 1000.0).round().max(0.0) as u64;
    if millis < 1000 {
        millis
    } else {
        millis / 10 * 10
    }
}

impl Statistics {
    /// Counts one segment or subsegment.
    pub fn add(&mut self, sample: &Sample) {
        if sample.fault {
            self.fault += 1;
        } else if sample.error {
            if sample.throttle {
                self.error_throttle += 1;
            } else {
                self.error_other += 1;
            }
        } else {
            self.ok += 1;
        }
        let (start, end) = (sample.start, sample.end);
        if self.total == 0 || start < self.start {
            self.start = start;
        }
        self.end = self.end.max(end);
        self.total += 1;
        self.total_response_time += sample.duration();
        *self
            .histogram
            .entry(bucket_millis(sample.duration()))
            .or_default() += 1;
    }

    /// `ServiceStatistics` / `EdgeStatistics`.
    pub fn to_json(&self) -> Value {
        json!({
            "OkCount": self.ok,
            "ErrorStatistics": {
                "ThrottleCount": self.error_throttle,
                "OtherCount": self.error_other,
                "TotalCount": self.error_throttle + self.error_other,
            },
            "FaultStatistics": { "OtherCount": self.fault, "TotalCount": self.fault },
            "TotalCount": self.total,
            "TotalResponseTime": self.total_response_time,
        })
    }

    /// `Histogram`: `{Value: seconds, Count}` for every non-empty bucket.
    pub fn histogram_json(&self) -> Value {
        let entries: Vec<Value> = self
            .histogram
            .iter()
            .map(|(millis, count)| json!({ "Value": *millis as f64 / 1000.0, "Count": count }))
            .collect();
        Value::Array(entries)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Vertex {
    Client(String),
    Node(Node),
}

#[derive(Default)]
struct VertexStats {
    own: Option<Statistics>,
    root: bool,
    /// By the callee's index in [`GraphBuilder::vertices`].
    edges: BTreeMap<usize, Statistics>,
}

/// Accumulates traces into a service graph. Vertices are numbered as they are first seen,
/// so adding a trace looks each of its nodes up once and clones nothing already known.
#[derive(Default)]
pub struct GraphBuilder {
    vertices: Vec<(Vertex, VertexStats)>,
    nodes: HashMap<Node, usize>,
    clients: HashMap<String, usize>,
}

impl GraphBuilder {
    fn node_vertex(&mut self, node: &Node) -> usize {
        if let Some(&index) = self.nodes.get(node) {
            return index;
        }
        self.vertices
            .push((Vertex::Node(node.clone()), VertexStats::default()));
        self.nodes.insert(node.clone(), self.vertices.len() - 1);
        self.vertices.len() - 1
    }

    fn client_vertex(&mut self, name: &str) -> usize {
        if let Some(&index) = self.clients.get(name) {
            return index;
        }
        self.vertices
            .push((Vertex::Client(name.to_owned()), VertexStats::default()));
        self.clients
            .insert(name.to_owned(), self.vertices.len() - 1);
        self.vertices.len() - 1
    }

    /// Adds one trace.
    pub fn add(&mut self, graph: &TraceShape) {
        let vertices: Vec<usize> = graph.nodes.iter().map(|n| self.node_vertex(n)).collect();
        for hop in &graph.hops {
            let vertex = vertices[hop.node];
            let stats = &mut self.vertices[vertex].1;
            stats
                .own
                .get_or_insert_with(Statistics::default)
                .add(&hop.sample);
            if hop.root {
                stats.root = true;
                let client = self.client_vertex(&graph.nodes[hop.node].name);
                self.vertices[client]
                    .1
                    .edges
                    .entry(vertex)
                    .or_default()
                    .add(&hop.sample);
            }
        }
        for call in &graph.calls {
            let (from, to) = (vertices[call.from], vertices[call.to]);
            self.vertices[from]
                .1
                .edges
                .entry(to)
                .or_default()
                .add(&call.sample);
        }
    }

    /// The `Services` list.
    pub fn services(&self) -> Vec<Value> {
        // Reference ids follow the vertices' sort order, so answers do not depend on the
        // order traces were added in.
        let mut order: Vec<usize> = (0..self.vertices.len()).collect();
        order.sort_by(|&a, &b| self.vertices[a].0.cmp(&self.vertices[b].0));
        let mut ids = vec![0; order.len()];
        for (rank, &vertex) in order.iter().enumerate() {
            ids[vertex] = rank;
        }
        order
            .iter()
            .map(|&index| {
                let (vertex, stats) = &self.vertices[index];
                let mut service = match vertex {
                    Vertex::Client(name) => json!({ "Name": name, "Names": [name], "Type": "client", "State": "unknown" }),
                    Vertex::Node(node) => {
                        let mut id = service_id(node);
                        id["State"] = json!(if node.inferred { "unknown" } else { "active" });
                        id
                    }
                };
                service["ReferenceId"] = json!(ids[index]);
                if stats.root {
                    service["Root"] = json!(true);
                }
                let mut targets: Vec<(&usize, &Statistics)> = stats.edges.iter().collect();
                targets.sort_by_key(|(target, _)| ids[**target]);
                let edges: Vec<Value> = targets
                    .into_iter()
                    .map(|(target, edge)| {
                        json!({
                            "ReferenceId": ids[*target],
                            "StartTime": edge.start,
                            "EndTime": edge.end,
                            "SummaryStatistics": edge.to_json(),
                            "ResponseTimeHistogram": edge.histogram_json(),
                            "Aliases": [],
                        })
                    })
                    .collect();
                service["Edges"] = Value::Array(edges);
                if let Some(own) = &stats.own {
                    service["StartTime"] = json!(own.start);
                    service["EndTime"] = json!(own.end);
                    service["SummaryStatistics"] = own.to_json();
                    service["ResponseTimeHistogram"] = own.histogram_json();
                    service["DurationHistogram"] = own.histogram_json();
                }
                service
            })
            .collect()
    }
}
