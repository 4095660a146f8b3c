//! Service graphs (GetServiceGraph, GetTraceGraph) and per-period statistics
//! (GetTimeSeriesServiceStatistics), aggregated over traces.
//!
//! A node's statistics come from its own segments (an inferred node's from the calls to it);
//! an edge's from the caller's subsegments, as the caller saw the round trip. The client node
//! (type `client`, named after the entry service) has one edge to each entry service, with the
//! entry segments' statistics. Histograms are sparse: response times rounded to the millisecond
//! below one second and to 10 ms above.

use std::collections::BTreeMap;

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
    edges: BTreeMap<Vertex, Statistics>,
}

/// Accumulates traces into a service graph.
#[derive(Default)]
pub struct GraphBuilder {
    vertices: BTreeMap<Vertex, VertexStats>,
}

impl GraphBuilder {
    /// Adds one trace.
    pub fn add(&mut self, graph: &TraceShape) {
        for hop in &graph.hops {
            let node = &graph.nodes[hop.node];
            let vertex = self.vertices.entry(Vertex::Node(node.clone())).or_default();
            vertex
                .own
                .get_or_insert_with(Statistics::default)
                .add(&hop.sample);
            if hop.root {
                vertex.root = true;
                let client = Vertex::Client(node.name.clone());
                self.vertices
                    .entry(client)
                    .or_default()
                    .edges
                    .entry(Vertex::Node(node.clone()))
                    .or_default()
                    .add(&hop.sample);
            }
        }
        for call in &graph.calls {
            let from = Vertex::Node(graph.nodes[call.from].clone());
            let to = Vertex::Node(graph.nodes[call.to].clone());
            self.vertices
                .entry(from)
                .or_default()
                .edges
                .entry(to.clone())
                .or_default()
                .add(&call.sample);
            self.vertices.entry(to).or_default();
        }
    }

    /// The `Services` list.
    pub fn services(&self) -> Vec<Value> {
        let ids: BTreeMap<&Vertex, usize> = self
            .vertices
            .keys()
            .enumerate()
            .map(|(i, v)| (v, i))
            .collect();
        self.vertices
            .iter()
            .map(|(vertex, stats)| {
                let mut service = match vertex {
                    Vertex::Client(name) => json!({ "Name": name, "Names": [name], "Type": "client", "State": "unknown" }),
                    Vertex::Node(node) => {
                        let mut id = service_id(node);
                        id["State"] = json!(if node.inferred { "unknown" } else { "active" });
                        id
                    }
                };
                service["ReferenceId"] = json!(ids[vertex]);
                if stats.root {
                    service["Root"] = json!(true);
                }
                let edges: Vec<Value> = stats
                    .edges
                    .iter()
                    .map(|(target, edge)| {
                        json!({
                            "ReferenceId": ids[target],
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
