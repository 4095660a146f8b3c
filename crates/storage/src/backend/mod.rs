//! Where blocks live: a local directory (the default) or S3-compatible object storage.

mod synced_local;

use std::path::Path;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use crate::StorageError;

fn invalid(url: &str, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(format!("storage URL {url:?}: {reason}"))
}

/// Opens the object store a storage URL names:
/// - none: `<data_dir>/objects`;
/// - `file:///absolute/path` or a plain path: that directory;
/// - `s3://bucket` or `s3://bucket/prefix`: S3, configured from the standard `AWS_*` variables
///   (credentials, `AWS_REGION`, and `AWS_ENDPOINT_URL` + `AWS_ALLOW_HTTP=true` for
///   S3-compatible servers).
pub fn open_object_store(
    url: Option<&str>,
    data_dir: &Path,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let Some(url) = url else {
        return local(&data_dir.join("objects"));
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(url, "names no bucket"));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| invalid(url, e))?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return Ok(Arc::new(store));
        }
        return Ok(Arc::new(PrefixStore::new(store, prefix)));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return local(Path::new(path));
    }
    if url.contains("://") {
        return Err(invalid(
            url,
            "use s3://bucket/prefix, file:///path or a directory path",
        ));
    }
    local(Path::new(url))
}

fn local(directory: &Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
    std::fs::create_dir_all(directory).map_err(|e| StorageError::io("create", directory, e))?;
    let store = LocalFileSystem::new_with_prefix(directory)
        .map_err(|e| StorageError::io("open", directory, std::io::Error::other(e.to_string())))?;
    let root =
        std::fs::canonicalize(directory).map_err(|e| StorageError::io("open", directory, e))?;
    Ok(Arc::new(synced_local::SyncedLocalStore::new(store, root)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_object_store(None, dir.path())
            .unwrap()
            .to_string()
            .contains("LocalFileSystem"));
        assert!(dir.path().join("objects").is_dir());
        let explicit = format!("file://{}", dir.path().join("elsewhere").display());
        assert!(open_object_store(Some(&explicit), dir.path()).is_ok());
        assert!(dir.path().join("elsewhere").is_dir());
        let s3 = open_object_store(Some("s3://bucket/some/prefix"), dir.path()).unwrap();
        assert!(s3.to_string().contains("some/prefix"), "{s3}");
        let whole_bucket = open_object_store(Some("s3://bucket"), dir.path()).unwrap();
        assert!(
            whole_bucket.to_string().contains("bucket"),
            "{whole_bucket}"
        );
        let error = open_object_store(Some("gs://bucket"), dir.path())
            .err()
            .unwrap();
        assert!(error.to_string().contains("gs://bucket"), "{error}");
        assert!(open_object_store(Some("s3://"), dir.path()).is_err());
    }
}
