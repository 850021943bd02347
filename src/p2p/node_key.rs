//! The node's static secp256k1 key, persisted as `<data_dir>/nodekey` (64 hex characters, geth's
//! format). Created on first run with mode 0600; refused with a clear error if group/world can read
//! or write it, or if it is not a valid key. It must never log or print the secret.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secp256k1::SecretKey;

use crate::p2p::rlpx::{PeerId, id_of};

/// File name inside the data directory.
pub const NODE_KEY_FILE: &str = "nodekey";

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
    #[error("node key {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the content itself).
        reason: String,
    },
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
        match fs::metadata(&path) {
            Ok(_) => Self::load(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::new(&mut secp256k1::rand::rng());
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                f.write_all(alloy_primitives::hex::encode(key.to_secret_bytes()).as_bytes())
                    .map_err(io)?;
                f.sync_all().map_err(io)?;
                if let Ok(dir) = fs::File::open(data_dir) {
                    dir.sync_all().map_err(io)?;
                }
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
}
