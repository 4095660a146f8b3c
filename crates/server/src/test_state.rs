//! An [`AppState`] over a fresh data directory with storage attached, for the crate's tests.

use std::sync::Arc;

use combray_storage::{open_object_store, Storage, StorageConfig};

use crate::config::{Config, ServeArgs};
use crate::keys::KeyRing;
use crate::state::AppState;

/// State and storage over `dir`, with the default configuration.
pub(crate) async fn state(dir: &std::path::Path) -> (Arc<AppState>, Arc<Storage>) {
    state_with_head_limit(dir, 4 << 30).await
}

/// The same, with appends refused while the head holds more than `max_head_bytes`.
pub(crate) async fn state_with_head_limit(
    dir: &std::path::Path,
    max_head_bytes: usize,
) -> (Arc<AppState>, Arc<Storage>) {
    state_with_args(dir, max_head_bytes, ServeArgs::default()).await
}

/// The same, with other options as `args` sets them.
pub(crate) async fn state_with_args(
    dir: &std::path::Path,
    max_head_bytes: usize,
    args: ServeArgs,
) -> (Arc<AppState>, Arc<Storage>) {
    let config = Config::load(&ServeArgs {
        data_dir: Some(dir.to_path_buf()),
        ..args
    })
    .expect("config");
    let store = open_object_store(None, dir).expect("store");
    let keys = KeyRing::open(dir).expect("keys");
    let state = Arc::new(AppState::new(&config, keys, Arc::clone(&store)).expect("state"));
    let mut storage_config = StorageConfig::new(dir.to_path_buf(), store);
    storage_config.max_head_bytes = max_head_bytes;
    let storage = Storage::open(storage_config).await.expect("storage");
    let storage = Arc::new(storage);
    state.attach_storage(Arc::clone(&storage));
    (state, storage)
}
