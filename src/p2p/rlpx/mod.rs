//! RLPx: the ECIES handshake and the frame codec (devp2p `rlpx.md`, EIP-8).
//!
//! Owns turning a raw byte stream into an authenticated, encrypted stream of frames
//! ([`RlpxStream`]), in both roles: [`initiate`] (we dial) and [`accept`] (they dial). It must never
//! interpret frame contents (message ids, snappy, Hello): that is `p2p::base`'s job.
//!
//! Layers, pure first: [`ecies`] (the ECIES primitive), [`auth`] (auth/ack messages in both
//! forms and secret derivation), [`mac`] (the keccak frame MAC), [`frame`] (tokio codec with an
//! explicit `Header → Body` read state), `stream` (async handshake with a timeout).
//!
//! ```ignore
//! let tcp = TcpStream::connect(addr).await?;
//! let rlpx = rlpx::initiate(tcp, &our_key, remote_id, rlpx::DEFAULT_HANDSHAKE_TIMEOUT).await?;
//! ```

pub mod auth;
pub mod ecies;
mod error;
pub mod frame;
pub mod mac;
mod stream;

pub use auth::PeerId;
pub use error::RlpxError;
pub use frame::{FrameCodec, MAX_FRAME_SIZE};
pub use stream::{DEFAULT_HANDSHAKE_TIMEOUT, RlpxStream, accept, id_of, initiate};

#[cfg(test)]
pub(crate) mod tests_support {
    /// Where the EIP-8 vectors live (`../shared/testdata` beside the repository).
    pub fn vectors_path() -> std::path::PathBuf {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for base in [
            manifest.join("../shared"),
            manifest.join("../../shared"),
            "/work/shared".into(),
        ] {
            let p = base.join("testdata/devp2p/devp2p-vectors.json");
            if p.exists() {
                return p;
            }
        }
        panic!("devp2p-vectors.json not found beside the repository")
    }
}
