//! Wiring: builds every component explicitly, runs the listeners, and shuts down in order.
//!
//! Start-up binds every port first (so a port clash fails at once), serves `/healthz` and
//! `/readyz` while the WAL replays, and serves the ingest ports only once replay is done (until
//! then their connections wait in the kernel's backlog, their datagrams in the socket buffer).
//! Shutdown stops ingest, lets the WAL commit what is queued, then stops the API.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use combray_storage::{open_object_store, Storage, StorageConfig};
use std::net::UdpSocket;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::data_dir::DataDirLock;
use crate::grpc::{normalize_status, OtlpGrpc};
use crate::http::{api_router, otlp_router};
use crate::keys::KeyRing;
use crate::state::AppState;
use crate::xray::udp::{run_udp, QueueLimits};
use crate::xray::{xray_router, Port as XRayPort};

/// The addresses the server actually listens on (useful when configured with port 0).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddrs {
    /// OTLP/HTTP.
    pub otlp_http: SocketAddr,
    /// OTLP/gRPC.
    pub otlp_grpc: SocketAddr,
    /// API.
    pub api: SocketAddr,
    /// X-Ray daemon address (UDP segments; the TCP X-Ray API is on the same port).
    pub xray: SocketAddr,
}

struct Listeners {
    otlp_http: TcpListener,
    otlp_grpc: TcpListener,
    api: TcpListener,
    xray_tcp: TcpListener,
    xray_udp: UdpSocket,
}

async fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let bind_one = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for {what} on {addr}"))
    };
    Ok(Listeners {
        otlp_http: bind_one(config.ingest.otlp_http_addr, "OTLP/HTTP").await?,
        otlp_grpc: bind_one(config.ingest.otlp_grpc_addr, "OTLP/gRPC").await?,
        api: bind_one(config.server.api_addr, "the API").await?,
        xray_tcp: bind_one(config.xray.addr, "the X-Ray API (TCP)").await?,
        xray_udp: crate::xray::udp::bind(config.xray.addr).with_context(|| {
            format!(
                "cannot listen for X-Ray segments on UDP {}",
                config.xray.addr
            )
        })?,
    })
}

fn storage_config(
    config: &Config,
    store: Arc<dyn object_store::ObjectStore>,
) -> anyhow::Result<StorageConfig> {
    let data_dir = &config.server.data_dir;
    let node_id = crate::data_dir::node_id(config.storage.node_id.as_deref(), data_dir)?;
    Ok(config.storage.config(data_dir.clone(), store, node_id))
}

/// Cuts the head into blocks whenever the policy says so. A task of its own: a compaction can
/// take many seconds, and a cut that waited for it would let the head and the WAL grow.
async fn run_cuts(storage: Arc<Storage>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        if let Err(error) = storage.save_block_cache().await {
            tracing::warn!(%error, "cannot write the block index cache; start-up will list the store");
        }
        if storage.cut_is_due() {
            if let Err(error) = storage.cut().await {
                tracing::error!(%error, "cutting the head into blocks failed; retrying later");
            }
        }
    }
}

/// Every `poll`, looks for other nodes' blocks and runs a maintenance pass (compaction,
/// retention; only under the lease).
async fn run_maintenance(storage: Arc<Storage>, poll: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        // Poll at once: a block list read from the local cache is reconciled with the store.
        match storage.refresh_blocks().await {
            Ok((0, 0)) => {}
            Ok((added, removed)) => {
                tracing::info!(added, removed, "picked up other nodes' blocks")
            }
            Err(error) => tracing::warn!(%error, "cannot refresh the block list"),
        }
        match storage.maintain().await {
            Ok(report) if report.compacted_into + report.expired + report.deleted > 0 => {
                tracing::info!(?report, "maintenance pass");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "maintenance pass failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Runs the server until `shutdown` resolves. `on_bound` hears the bound addresses first.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    on_bound: impl FnOnce(BoundAddrs),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            config.server.data_dir.display()
        )
    })?;
    // Held until serve returns: a second server on this directory would replay, cut and delete
    // this one's WAL.
    let _data_dir_lock = DataDirLock::acquire(&config.server.data_dir)?;
    let keys = KeyRing::open(&config.server.data_dir)?;
    warn_if_open_without_keys(&config, &keys);
    announce_xray_environment(&config, &keys);
    let store = open_object_store(config.storage.url.as_deref(), &config.server.data_dir)
        .context("cannot open the object store")?;
    let state = Arc::new(AppState::new(&config, keys, Arc::clone(&store))?);
    let listeners = bind(&config).await?;
    let bound = BoundAddrs {
        otlp_http: listeners.otlp_http.local_addr()?,
        otlp_grpc: listeners.otlp_grpc.local_addr()?,
        api: listeners.api.local_addr()?,
        xray: listeners.xray_udp.local_addr()?,
    };
    on_bound(bound);

    let (stop_ingest, ingest_stopped) = watch::channel(false);
    let (stop_api, api_stopped) = watch::channel(false);
    let api = tokio::spawn(run_http(
        listeners.api,
        api_router(Arc::clone(&state))
            .merge(xray_router(Arc::clone(&state), XRayPort::Api))
            .merge(crate::honeycomb::honeycomb_router(Arc::clone(&state)))
            .merge(crate::ui::ui_router()),
        api_stopped,
    ));

    let storage = Storage::open(storage_config(&config, store)?)
        .await
        .context("cannot open storage")?;
    let storage = Arc::new(storage);
    let poll = config.storage.poll_interval;
    let cuts = tokio::spawn(run_cuts(Arc::clone(&storage), ingest_stopped.clone()));
    let maintenance = tokio::spawn(run_maintenance(
        Arc::clone(&storage),
        poll,
        ingest_stopped.clone(),
    ));
    state.attach_storage(Arc::clone(&storage));
    crate::xray::ingest::restore_held(&state).await;
    tracing::info!(otlp_http = %bound.otlp_http, otlp_grpc = %bound.otlp_grpc, api = %bound.api, xray = %bound.xray, data_dir = %config.server.data_dir.display(), "combray is ready");

    let otlp_http = tokio::spawn(run_http(
        listeners.otlp_http,
        otlp_router(Arc::clone(&state)),
        ingest_stopped.clone(),
    ));
    let otlp_grpc = tokio::spawn(run_grpc(
        listeners.otlp_grpc,
        Arc::clone(&state),
        ingest_stopped.clone(),
    ));
    let xray_tcp = tokio::spawn(run_http(
        listeners.xray_tcp,
        xray_router(Arc::clone(&state), XRayPort::Daemon),
        ingest_stopped.clone(),
    ));
    let xray_udp = tokio::spawn(run_udp(
        listeners.xray_udp,
        Arc::clone(&state),
        QueueLimits {
            documents: config.xray.udp_queue,
            bytes: config.xray.udp_queue_bytes,
        },
        ingest_stopped,
    ));

    shutdown.await;
    tracing::info!("shutting down: closing ingest");
    state.begin_shutdown();
    let _ = stop_ingest.send(true);
    log_join("OTLP/HTTP", otlp_http.await);
    log_join("OTLP/gRPC", otlp_grpc.await);
    log_join("X-Ray API (TCP)", xray_tcp.await);
    // Stores the documents still waiting in the assembler.
    log_join("X-Ray UDP", xray_udp.await);
    if cuts.await.is_err() {
        tracing::error!("the cut task panicked");
    }
    if maintenance.await.is_err() {
        tracing::error!("the maintenance task panicked");
    }
    // Leaving the head in blocks makes the next start fast; the WAL keeps it safe either way.
    if let Err(error) = storage.cut().await {
        tracing::error!(%error, "final cut at shutdown failed; the WAL will be replayed at start");
    }
    // Every ingest request has been answered, so the WAL holds nothing unsynced; its writer
    // thread is joined when the last reference to storage (the API's) is dropped below.
    drop(storage);
    let _ = stop_api.send(true);
    log_join("API", api.await);
    tracing::info!("stopped");
    Ok(())
}

/// The daemon's port carries no key, so where its segments land is configuration: say it, and
/// say when no key could ever read it.
fn announce_xray_environment(config: &Config, keys: &KeyRing) {
    let environment = &config.xray.environment;
    tracing::info!(%environment, addr = %config.xray.addr, "the X-Ray daemon port (UDP segments; TCP sampling rules, targets and segments) writes to and answers from environment {environment} (--xray-environment)");
    if keys.has_keys() && !keys.has_environment(environment) {
        tracing::warn!(%environment, "keys exist, but none for environment {environment}: X-Ray SDK segments sent to {} land there, where no key can read them, and sampling rules made with another environment's key never reach the SDKs. Start with --xray-environment <your environment>", config.xray.addr);
    }
}

/// Keys are optional only while nobody else can reach the ports.
fn warn_if_open_without_keys(config: &Config, keys: &KeyRing) {
    if !keys.has_keys() {
        let listeners = [
            ("OTLP/HTTP", config.ingest.otlp_http_addr),
            ("OTLP/gRPC", config.ingest.otlp_grpc_addr),
            ("API", config.server.api_addr),
            ("X-Ray", config.xray.addr),
        ];
        for (what, addr) in listeners {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the {what} listener binds a non-loopback address and no keys exist: anyone who can reach it can send and read everything; create keys with `combray keys create`");
            }
        }
    }
}

fn log_join(what: &str, joined: Result<anyhow::Result<()>, tokio::task::JoinError>) {
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "{what} listener failed"),
        Err(error) => tracing::error!(%error, "{what} listener panicked"),
    }
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn run_http(
    listener: TcpListener,
    router: axum::Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(wait_for(stop))
        .await?;
    Ok(())
}

async fn run_grpc(
    listener: TcpListener,
    state: Arc<AppState>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(normalize_status))
        .add_service(OtlpGrpc::service(state))
        .serve_with_incoming_shutdown(incoming, wait_for(stop))
        .await?;
    Ok(())
}
