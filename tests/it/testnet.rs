//! The `histd-testnet` binary as a person uses it: ENODE/HEAD lines, a chain.toml that
//! `histd config check --chain` accepts, peers that serve over real RLPx, request counts on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use histd::p2p::chain::{ChainSpec, ForkHead};
use histd::p2p::enode::Enode;
use histd::p2p::eth::{BlockHashOrNumber, BlockRange, GetBlockHeaders};
use histd::p2p::node_key::NodeKey;
use histd::p2p::session::{self, EmptyHistory, PeerConfig, SessionConfig, StatusInputs};
use histd::primitives::BlockNumber;

#[tokio::test]
async fn binary_prints_enodes_head_and_counts_and_writes_a_usable_chain_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_histd-testnet"))
        .args(["--synthetic", "--blocks", "40", "--peers", "3"])
        .args(["--listen", "127.0.0.1:0", "--peer-knob", "1:max-items=2"])
        .arg("--out")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("histd-testnet starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut enodes: Vec<Enode> = Vec::new();
    let head = loop {
        let line = lines.next().expect("a HEAD line").expect("utf-8");
        if let Some(url) = line.strip_prefix("ENODE ") {
            enodes.push(url.parse().expect("enode URL"));
        } else if let Some(rest) = line.strip_prefix("HEAD ") {
            break rest.to_owned();
        }
    };
    assert_eq!(enodes.len(), 3);
    for (i, e) in enodes.iter().enumerate() {
        assert_eq!(e.addr.ip().to_string(), format!("127.0.{i}.1"));
    }
    let (number, hash) = head.split_once(' ').expect("HEAD <number> <hash>");
    assert_eq!(number, "40");

    let chain_toml = dir.path().join("chain.toml");
    let check = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["config", "check", "--chain"])
        .arg(&chain_toml)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("histd config check runs");
    assert!(
        check.status.success(),
        "config check refused chain.toml: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A real session to peer 2: its head is the printed one, and it serves headers.
    let spec = ChainSpec::from_file(&chain_toml).expect("chain.toml");
    let status = StatusInputs {
        filter: spec.fork_filter(ForkHead::new(0u64, spec.genesis_timestamp)),
        served: BlockRange::genesis(&spec),
        spec: spec.clone(),
    };
    let config = PeerConfig::new(NodeKey::random(), status);
    let tcp = tokio::net::TcpStream::connect(enodes[2].addr)
        .await
        .expect("connect");
    let eth = session::dial(tcp, enodes[2].id, &config)
        .await
        .expect("handshake");
    let (peer, _task) = session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default());
    let peer_head = peer.head().await.expect("head");
    assert_eq!(peer_head.hash.to_string(), hash);
    let headers = peer
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(1)),
            limit: 10,
            skip: 0,
            reverse: false,
        })
        .await
        .expect("headers");
    assert_eq!(headers.len(), 10);
    assert_eq!(headers[0].parent_hash, spec.genesis_hash);
    drop(peer);

    // SIGINT: one REQUESTS line per peer, peer 2 having served our one request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status}");
    let requests: Vec<&String> = rest.iter().filter(|l| l.starts_with("REQUESTS ")).collect();
    assert_eq!(requests.len(), 3, "{rest:?}");
    assert!(
        requests[2].starts_with("REQUESTS 2 headers=1 bodies=0 receipts=0"),
        "{requests:?}"
    );
}
