//! The local object store, made durable. `object_store`'s `LocalFileSystem` writes each object
//! to a temporary file and renames it into place, but syncs neither the file nor its directory:
//! after a power cut a block's name can point at an empty file while the WAL segments holding its
//! spans are already deleted. This wrapper syncs every object it writes (the file, then each
//! directory from the file's up to the store's root, since missing parents are created on the
//! way) before the write is reported done, so a cut's checkpoint never runs ahead of its blocks.
//!
//! Deletes are not synced: a delete that a power cut undoes leaves a block that a compacted
//! block's `replaces` list already hides, or an expired block that the next pass deletes again.

use std::ops::Range;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

/// A `LocalFileSystem` whose writes are durable once they return.
#[derive(Debug)]
pub(crate) struct SyncedLocalStore {
    inner: std::sync::Arc<LocalFileSystem>,
    root: PathBuf,
}

impl SyncedLocalStore {
    pub(crate) fn new(inner: LocalFileSystem, root: PathBuf) -> Self {
        Self {
            inner: std::sync::Arc::new(inner),
            root,
        }
    }

    async fn sync(&self, location: &Path) -> object_store::Result<()> {
        sync_object(&self.inner, &self.root, location).await
    }
}

async fn sync_object(
    inner: &LocalFileSystem,
    root: &std::path::Path,
    location: &Path,
) -> object_store::Result<()> {
    let file = inner.path_to_filesystem(location)?;
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || sync_up_to_root(&file, &root))
        .await
        .map_err(|error| generic(error.to_string()))?
        .map_err(|error| generic(error.to_string()))
}

fn sync_up_to_root(
    file: &std::path::Path,
    root: &std::path::Path,
) -> Result<(), crate::StorageError> {
    crate::durable::sync_file_and_dir(file)?;
    let mut dir = file.parent().and_then(|parent| parent.parent());
    while let Some(current) = dir.filter(|current| current.starts_with(root)) {
        crate::durable::sync_dir(current)?;
        dir = current.parent();
    }
    Ok(())
}

fn generic(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: message.into(),
    }
}

impl std::fmt::Display for SyncedLocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Synced{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for SyncedLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.sync(location).await?;
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SyncedUpload {
            upload,
            store: std::sync::Arc::clone(&self.inner),
            root: self.root.clone(),
            location: location.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        self.sync(to).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        self.sync(to).await
    }
}

/// A multipart upload that syncs the object once it is complete.
#[derive(Debug)]
struct SyncedUpload {
    upload: Box<dyn MultipartUpload>,
    store: std::sync::Arc<LocalFileSystem>,
    root: PathBuf,
    location: Path,
}

#[async_trait]
impl MultipartUpload for SyncedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.upload.complete().await?;
        sync_object(&self.store, &self.root, &self.location).await?;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn objects_written_every_way_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("objects");
        std::fs::create_dir_all(&root).unwrap();
        let store = SyncedLocalStore::new(LocalFileSystem::new_with_prefix(&root).unwrap(), root);
        let nested = Path::from("blocks/prod/block-1/meta.json");
        store.put(&nested, PutPayload::from("meta")).await.unwrap();
        let mut upload = store
            .put_multipart(&Path::from("blocks/prod/block-1/data.parquet"))
            .await
            .unwrap();
        upload.put_part(PutPayload::from("da")).await.unwrap();
        upload.put_part(PutPayload::from("ta")).await.unwrap();
        upload.complete().await.unwrap();
        let copied = Path::from("elsewhere/copy.json");
        store.copy(&nested, &copied).await.unwrap();
        let data = store
            .get(&Path::from("blocks/prod/block-1/data.parquet"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&data[..], b"data");
        let copy = store.get(&copied).await.unwrap().bytes().await.unwrap();
        assert_eq!(&copy[..], b"meta");
    }
}
