//! The node's static secp256k1 key, persisted as `<data_dir>/nodekey` (64 hex characters, geth's
//! format). Created on first run with mode 0600, atomically (tmp → fsync → rename → fsync dir), so a
//! crash leaves either no key or the whole key, never an empty file; a leftover tmp file from such a
//! crash is removed. Refused with a clear error if group/world can read or write it, or if it is not
//! a valid key. It must never log or print the secret.
//!
//! The atomic write is a small local helper rather than storage's `fsio`: p2p and storage sit side
//! by side and never name each other (`src/layers.rs`), and `primitives` holds block types, not I/O.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secp256k1::SecretKey;

use crate::p2p::rlpx::{PeerId, id_of};

/// File name inside the data directory.
pub const NODE_KEY_FILE: &str = "nodekey";

/// The key is written here first, then renamed over [`NODE_KEY_FILE`].
const NODE_KEY_TMP: &str = "nodekey.tmp";

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeKeyError {
    /// Reading, creating or syncing the file failed.
    #[error("node key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Group or others may access the file.
    #[error(
        "node key {path} is accessible by group or others (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not 32 hex-encoded bytes forming a valid secp256k1 key.
    #[error(
        "node key {path} is corrupt: {reason}; restore it from a backup, or remove it to start with a new node identity"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content itself).
        reason: String,
    },
}

/// Writes `key` to `<data_dir>/nodekey.tmp` (mode 0600) and fsyncs it. A crash from here on
/// leaves at most this tmp file, which the next start removes.
fn write_tmp(data_dir: &Path, key: &SecretKey) -> Result<PathBuf, NodeKeyError> {
    let tmp = data_dir.join(NODE_KEY_TMP);
    let io = |source| NodeKeyError::Io {
        path: tmp.clone(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(alloy_primitives::hex::encode(key.to_secret_bytes()).as_bytes())
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(tmp)
}

/// Renames the synced tmp file over `path` and fsyncs the directory, so the key is durable (and
/// whole) before anyone uses the identity.
fn install(tmp: &Path, path: &Path, data_dir: &Path) -> Result<(), NodeKeyError> {
    fs::rename(tmp, path).map_err(|source| NodeKeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| NodeKeyError::Io {
            path: data_dir.to_owned(),
            source,
        })
}

/// The node's identity key. `Debug` hides the secret.
#[derive(Clone)]
pub struct NodeKey(SecretKey);

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.id())
    }
}

impl NodeKey {
    /// Loads `<data_dir>/nodekey`, or creates it (mode 0600, fsynced) if absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, NodeKeyError> {
        let path = data_dir.join(NODE_KEY_FILE);
        let io = |source| NodeKeyError::Io {
            path: path.clone(),
            source,
        };
        // A tmp file is only ever a crash's leftover: never read, the key it held was never used.
        let tmp = data_dir.join(NODE_KEY_TMP);
        match fs::remove_file(&tmp) {
            Ok(()) => tracing::info!(path = %tmp.display(), "removed an unfinished node key write"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(NodeKeyError::Io { path: tmp, source }),
        }
        match fs::metadata(&path) {
            Ok(_) => Self::load(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::new(&mut secp256k1::rand::rng());
                let tmp = write_tmp(data_dir, &key)?;
                install(&tmp, &path, data_dir)?;
                Ok(Self(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Loads an existing key file, checking permissions first.
    pub fn load(path: &Path) -> Result<Self, NodeKeyError> {
        let meta = fs::metadata(path).map_err(|source| NodeKeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(NodeKeyError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = fs::read(path).map_err(|source| NodeKeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        let corrupt = |reason: &str| NodeKeyError::Corrupt {
            path: path.to_owned(),
            reason: reason.into(),
        };
        let text = std::str::from_utf8(&text).map_err(|_| corrupt("not text"))?;
        let bytes = alloy_primitives::hex::decode(text.trim()).map_err(|_| corrupt("not hex"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| corrupt("expected 32 bytes (64 hex characters)"))?;
        SecretKey::from_secret_bytes(bytes)
            .map(Self)
            .map_err(|_| corrupt("not a valid secp256k1 secret key"))
    }

    /// Wraps an existing key (tests, tools).
    pub fn from_secret(sk: SecretKey) -> Self {
        Self(sk)
    }

    /// A fresh random key that is not persisted (tests).
    pub fn random() -> Self {
        Self(SecretKey::new(&mut secp256k1::rand::rng()))
    }

    /// The secret, for the RLPx handshake.
    pub fn secret(&self) -> &SecretKey {
        &self.0
    }

    /// Our node id.
    pub fn id(&self) -> PeerId {
        id_of(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_0600_reloaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = NodeKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = NodeKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.id(), b.id());

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, NodeKeyError::InsecurePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "zz").unwrap();
        let err = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, NodeKeyError::Corrupt { .. }), "{err}");
        fs::write(&path, "00".repeat(32)).unwrap();
        assert!(matches!(
            NodeKey::load_or_create(dir.path()),
            Err(NodeKeyError::Corrupt { .. })
        ));
        assert!(
            !format!("{a:?}")
                .contains(&alloy_primitives::hex::encode(a.secret().to_secret_bytes()))
        );
    }

    #[test]
    fn crash_after_the_tmp_write_keeps_the_old_key_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        let tmp = dir.path().join(NODE_KEY_TMP);

        // No key yet: the crash comes after the tmp file is written and synced, before the rename.
        write_tmp(dir.path(), &NodeKey::random().0).unwrap();
        assert!(
            !path.exists(),
            "a crash before the rename leaves no key file"
        );
        let a = NodeKey::load_or_create(dir.path()).unwrap();
        assert!(!tmp.exists(), "the leftover tmp file is cleaned");
        assert_eq!(NodeKey::load(&path).unwrap().id(), a.id());

        // A key exists: a crashed write beside it (whole, or cut short) never replaces it.
        let before = fs::read(&path).unwrap();
        for leftover in [&b""[..], b"abc", before.as_slice()] {
            fs::write(&tmp, leftover).unwrap();
            let b = NodeKey::load_or_create(dir.path()).unwrap();
            assert_eq!(b.id(), a.id());
            assert_eq!(fs::read(&path).unwrap(), before);
            assert!(!tmp.exists());
        }
    }

    #[test]
    fn empty_or_truncated_key_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        NodeKey::load_or_create(dir.path()).unwrap();
        let whole = fs::read(&path).unwrap();
        for bad in [&b""[..], &whole[..whole.len() / 2]] {
            fs::write(&path, bad).unwrap();
            let err = NodeKey::load_or_create(dir.path()).unwrap_err();
            assert!(matches!(err, NodeKeyError::Corrupt { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("64 hex characters"), "{msg}");
            assert!(
                msg.contains("remove it to start with a new node identity"),
                "{msg}"
            );
        }
    }
}
