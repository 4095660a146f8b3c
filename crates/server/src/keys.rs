//! API keys, the Honeycomb way: each key belongs to one environment and is either an ingest key
//! (may only send) or a configuration key (may send, read and administer). Keys are stored as
//! SHA-256 hashes in `<data-dir>/keys.json`; the secret is shown once, when it is created.
//!
//! With no keys at all, everything belongs to environment `default` without authentication, for
//! local development. Creating the first key turns authentication on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Header that carries the key, on HTTP and as gRPC metadata.
pub const KEY_HEADER: &str = "x-honeycomb-team";
/// Environment used when no keys exist.
pub const DEFAULT_ENVIRONMENT: &str = "default";
const KEYS_FILE: &str = "keys.json";
const KEYS_LOCK_FILE: &str = "keys.lock";
const KEYS_FORMAT_VERSION: u32 = 1;
/// How often a running server looks for keys created by `combray keys create`.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Send telemetry only.
    Ingest,
    /// Send, read and administer one environment.
    Configuration,
    /// An AWS access key pair for the X-Ray API: requests signed with it (SigV4) act in its
    /// environment and may read and write. Its secret is kept, since checking a signature needs it.
    Aws,
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Send telemetry.
    Ingest,
    /// Read or administer.
    Read,
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Keys exist and the request carried none.
    #[error("missing '{KEY_HEADER}' header: this Combray requires an API key")]
    Missing,
    /// The key is not one of ours.
    #[error("unknown API key in the '{KEY_HEADER}' header")]
    Unknown,
    /// An ingest key asked to read.
    #[error("this is an ingest key, which can only send data; reading needs a configuration key of the environment")]
    IngestKeyCannotRead,
}

/// A key as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// Public identifier, the key's first characters.
    pub id: String,
    /// Environment the key belongs to.
    pub environment: String,
    /// What it may do.
    pub kind: KeyKind,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// The secret access key of an [`KeyKind::Aws`] key (the `id` is its access key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secret: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeysFile {
    version: u32,
    keys: Vec<StoredKey>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_FILE)
}

fn read_keys(path: &Path) -> anyhow::Result<Vec<StoredKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => anyhow::bail!("cannot read {}: {error}", path.display()),
    };
    let file: KeysFile = serde_json::from_str(&text)
        .map_err(|error| anyhow::anyhow!("{} is not a keys file: {error}", path.display()))?;
    anyhow::ensure!(
        file.version == KEYS_FORMAT_VERSION,
        "{} has format version {}, this Combray reads {KEYS_FORMAT_VERSION}",
        path.display(),
        file.version
    );
    Ok(file.keys)
}

/// Creates a key, stores its hash and returns the secret (shown once).
pub fn create_key(
    data_dir: &Path,
    environment: &str,
    kind: KeyKind,
) -> anyhow::Result<(StoredKey, String)> {
    anyhow::ensure!(
        !environment.is_empty()
            && environment.len() <= 64
            && environment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "environment names are 1 to 64 letters, digits, '-' or '_'"
    );
    std::fs::create_dir_all(data_dir)?;
    // Read, add and write under an exclusive lock, so two `keys create` at once both land.
    let lock = std::fs::File::create(data_dir.join(KEYS_LOCK_FILE))?;
    lock.lock()?;
    let path = keys_path(data_dir);
    let mut keys = read_keys(&path)?;
    let prefix = match kind {
        KeyKind::Ingest => "cmbik_",
        KeyKind::Configuration => "cmbck_",
        KeyKind::Aws => "",
    };
    let mut rng = rand::rng();
    let mut random = |alphabet: &[u8], length: usize| -> String {
        (0..length)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect()
    };
    let (id, secret) = match kind {
        // Shaped like AWS's own (20-character id, 40-character secret), so every SDK takes it.
        KeyKind::Aws => (
            format!("CMBA{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
            random(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                40,
            ),
        ),
        _ => {
            let secret = format!(
                "{prefix}{}",
                random(b"abcdefghijklmnopqrstuvwxyz0123456789", 40)
            );
            (secret[..prefix.len() + 8].to_owned(), secret)
        }
    };
    let created_unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stored = StoredKey {
        id,
        environment: environment.to_owned(),
        kind,
        sha256: hash(&secret),
        created_unix,
        aws_secret: (kind == KeyKind::Aws).then(|| secret.clone()),
    };
    keys.push(stored.clone());
    let text = serde_json::to_string_pretty(&KeysFile {
        version: KEYS_FORMAT_VERSION,
        keys,
    })?;
    // Owner-only, written whole and renamed into place: a running server never reads half a
    // file, and a power cut leaves the old keys or the new ones.
    combray_storage::write_file_durably(&path, text.as_bytes())?;
    drop(lock);
    Ok((stored, secret))
}

/// Lists stored keys.
pub fn list_keys(data_dir: &Path) -> anyhow::Result<Vec<StoredKey>> {
    read_keys(&keys_path(data_dir))
}

struct Loaded {
    by_hash: HashMap<String, (String, KeyKind)>,
    /// AWS access key id → (secret, environment).
    aws: HashMap<String, (String, String)>,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// The server's view of the keys, refreshed when the file changes.
pub struct KeyRing {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl KeyRing {
    /// Loads the keys of a data directory.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = keys_path(data_dir);
        let ring = Self {
            loaded: Mutex::new(Loaded {
                by_hash: HashMap::new(),
                aws: HashMap::new(),
                modified: None,
                checked: Instant::now(),
            }),
            path,
        };
        ring.reload()?;
        Ok(ring)
    }

    fn reload(&self) -> anyhow::Result<()> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let keys = read_keys(&self.path)?;
        let mut loaded = self.loaded.lock();
        loaded.aws = keys
            .iter()
            .filter_map(|k| {
                let secret = k.aws_secret.clone()?;
                Some((k.id.clone(), (secret, k.environment.clone())))
            })
            .collect();
        loaded.by_hash = keys
            .into_iter()
            .map(|k| (k.sha256, (k.environment, k.kind)))
            .collect();
        loaded.modified = modified;
        loaded.checked = Instant::now();
        Ok(())
    }

    fn refresh_if_changed(&self) {
        {
            let mut loaded = self.loaded.lock();
            if loaded.checked.elapsed() < RELOAD_INTERVAL {
                return;
            }
            loaded.checked = Instant::now();
            let modified = std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok();
            if modified == loaded.modified {
                return;
            }
        }
        if let Err(error) = self.reload() {
            tracing::error!(%error, "keeping the previous keys: the keys file cannot be read");
        }
    }

    /// The environment a request acts in, given its key header (if any) and what it wants.
    pub fn authorize(&self, key: Option<&str>, access: Access) -> Result<String, AuthError> {
        self.refresh_if_changed();
        let loaded = self.loaded.lock();
        if loaded.by_hash.is_empty() {
            return Ok(DEFAULT_ENVIRONMENT.to_owned());
        }
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        let (environment, kind) = loaded.by_hash.get(&hash(key)).ok_or(AuthError::Unknown)?;
        // An AWS secret only signs; sent as a key it would travel in clear text.
        if *kind == KeyKind::Aws {
            return Err(AuthError::Unknown);
        }
        if access == Access::Read && *kind == KeyKind::Ingest {
            return Err(AuthError::IngestKeyCannotRead);
        }
        Ok(environment.clone())
    }
}

/// Who a key is, for `GET /1/auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    /// The key's public id (its first characters), none while no keys exist.
    pub id: Option<String>,
    /// The environment it acts in.
    pub environment: String,
    /// What it may do; none while no keys exist (then anyone may do anything).
    pub kind: Option<KeyKind>,
}

impl KeyRing {
    /// The identity of the key a request carries; refused as [`KeyRing::authorize`] refuses.
    pub fn describe(&self, key: Option<&str>) -> Result<KeyIdentity, AuthError> {
        let environment = self.authorize(key, Access::Ingest)?;
        let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(KeyIdentity {
                id: None,
                environment,
                kind: None,
            });
        };
        let loaded = self.loaded.lock();
        let kind = loaded.by_hash.get(&hash(key)).map(|(_, kind)| *kind);
        // Ids are the key's prefix and eight characters (see `create_key`).
        let id = key
            .find('_')
            .map(|p| key[..(p + 9).min(key.len())].to_owned());
        Ok(KeyIdentity {
            id,
            environment,
            kind,
        })
    }

    /// Whether any key exists (then every request must authenticate).
    pub fn has_keys(&self) -> bool {
        self.refresh_if_changed();
        !self.loaded.lock().by_hash.is_empty()
    }

    /// Whether some key acts in this environment.
    pub fn has_environment(&self, environment: &str) -> bool {
        self.refresh_if_changed();
        let loaded = self.loaded.lock();
        loaded.by_hash.values().any(|(env, _)| env == environment)
    }

    /// The secret and environment of an AWS access key id.
    pub fn aws_key(&self, access_key_id: &str) -> Option<(String, String)> {
        self.refresh_if_changed();
        self.loaded.lock().aws.get(access_key_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_created_at_once_all_land_in_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let created: Vec<String> = std::thread::scope(|scope| {
            let makers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        create_key(dir.path(), "prod", KeyKind::Ingest)
                            .unwrap()
                            .0
                            .id
                    })
                })
                .collect();
            makers.into_iter().map(|m| m.join().unwrap()).collect()
        });
        let mut stored: Vec<String> = list_keys(dir.path())
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        stored.sort();
        let mut expected = created;
        expected.sort();
        assert_eq!(stored, expected);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn no_keys_means_default_environment_without_auth() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path()).unwrap();
        assert_eq!(
            ring.authorize(None, Access::Read).unwrap(),
            DEFAULT_ENVIRONMENT
        );
    }

    #[test]
    fn keys_select_environments_and_ingest_keys_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let (_, ingest) = create_key(dir.path(), "prod", KeyKind::Ingest).unwrap();
        let (stored, configuration) =
            create_key(dir.path(), "dev", KeyKind::Configuration).unwrap();
        assert!(configuration.starts_with("cmbck_"));
        assert!(configuration.starts_with(&stored.id));
        let ring = KeyRing::open(dir.path()).unwrap();
        assert_eq!(
            ring.authorize(Some(&ingest), Access::Ingest).unwrap(),
            "prod"
        );
        assert_eq!(
            ring.authorize(Some(&ingest), Access::Read),
            Err(AuthError::IngestKeyCannotRead)
        );
        assert_eq!(
            ring.authorize(Some(&configuration), Access::Read).unwrap(),
            "dev"
        );
        assert_eq!(
            ring.authorize(Some(&configuration), Access::Ingest)
                .unwrap(),
            "dev"
        );
        assert_eq!(
            ring.authorize(None, Access::Ingest),
            Err(AuthError::Missing)
        );
        assert_eq!(
            ring.authorize(Some("cmbik_nope"), Access::Ingest),
            Err(AuthError::Unknown)
        );
        let listed = list_keys(dir.path()).unwrap();
        assert_eq!(listed.len(), 2);
        let file = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!file.contains(&ingest), "secrets are never stored");
    }

    #[test]
    fn bad_environment_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(create_key(dir.path(), "has space", KeyKind::Ingest).is_err());
        assert!(create_key(dir.path(), "", KeyKind::Ingest).is_err());
    }
}
