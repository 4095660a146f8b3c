//! The X-Ray daemon port's operator settings (the `[xray]` section), with their defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use combray_xray::control::ArnScope;

/// Where the daemon port listens and how it holds documents.
#[derive(Debug, Clone, PartialEq)]
pub struct XRaySettings {
    /// UDP segments and the TCP API, as the daemon's `-b`.
    pub addr: SocketAddr,
    /// The environment the daemon port writes to and answers from.
    pub environment: String,
    /// Region and account in ARNs.
    pub arns: ArnScope,
    /// How long a streamed subsegment waits for its segment, and an in-progress document for
    /// its complete version.
    pub orphan_wait: Duration,
    /// Datagrams the UDP receiver queues before dropping.
    pub udp_queue: usize,
    /// Memory of the documents waiting for a parent or complete version.
    pub max_waiting_bytes: usize,
    /// Memory of the documents queued between the UDP port's reader and writer.
    pub udp_queue_bytes: usize,
}

impl XRaySettings {
    /// The defaults for a server sized to `memory_bytes`: waiting documents and the UDP queue
    /// may each take 1/32 of it.
    pub fn for_memory(memory_bytes: u64) -> Self {
        let share = usize::try_from(memory_bytes / 32).unwrap_or(usize::MAX);
        Self {
            // The daemon's own port, so SDKs find Combray without being told.
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 2000)),
            environment: "default".into(),
            arns: ArnScope::default(),
            // The X-Ray SDKs stream subsegments of a long request well within this.
            orphan_wait: Duration::from_secs(10),
            // Room for a burst while the writer waits on a WAL sync.
            udp_queue: 65_536,
            max_waiting_bytes: share,
            udp_queue_bytes: share,
        }
    }
}
