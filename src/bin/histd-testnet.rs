//! `histd-testnet`: a whole local devp2p network in one process, to sync histd from.
//!
//! ```text
//! histd-testnet --blocks 50000 --peers 8 --listen 127.0.0.1:30400 --out DIR [knobs]
//! ```
//! Builds the chain, starts peer `i` on `127.0.i.1`, writes `DIR/chain.toml`, prints one
//! `ENODE <url>` line per peer and a `HEAD <number> <hash>` line, serves until SIGINT/SIGTERM,
//! then prints one `REQUESTS <peer> headers=… bodies=… receipts=… blocks=…` line per peer.
//! Test tooling only (built with the `testkit` feature); never part of the product.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use histd::testkit::testnet::{ChainKind, Testnet, TestnetConfig};

#[derive(Debug, Parser)]
#[command(
    name = "histd-testnet",
    about = "A local test network of history-serving peers"
)]
struct Args {
    /// Blocks after genesis (the head's number).
    #[arg(long, default_value_t = 1000)]
    blocks: u64,
    /// Number of peers.
    #[arg(long, default_value_t = 4)]
    peers: usize,
    /// Address of peer 0; peer i listens on the third octet + i (127.0.0.1 → 127.0.i.1), same port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for chain.toml.
    #[arg(long)]
    out: PathBuf,
    /// Chain seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Small synthetic blocks instead of re-linked mainnet blocks.
    #[arg(long)]
    synthetic: bool,
    /// Blocks the fork shares with the main chain (default: half).
    #[arg(long)]
    fork_at: Option<u64>,
    /// Write the head as `checkpoint = "N:0xHASH"` into chain.toml (histd then anchors on it
    /// instead of asking peers for a quorum).
    #[arg(long)]
    checkpoint: bool,
    /// Knobs for every peer.
    #[command(flatten)]
    knobs: KnobFlags,
    /// A knob of one peer, `INDEX:NAME=VALUE` (repeatable; applied over the knobs for all peers).
    #[arg(long = "peer-knob", value_name = "I:NAME=VALUE")]
    peer_knob: Vec<String>,
}

/// Knobs applying to every peer (names as in `--peer-knob`).
#[derive(Debug, clap::Args)]
struct KnobFlags {
    /// Delay before every answer, ms.
    #[arg(long)]
    latency_ms: Option<String>,
    /// Answer bytes per second.
    #[arg(long)]
    bandwidth: Option<String>,
    /// At most this many items per answer.
    #[arg(long)]
    max_items: Option<String>,
    /// Bodies/receipts below this block are expired (answered empty).
    #[arg(long)]
    expired_below: Option<String>,
    /// Serve altered receipts.
    #[arg(long)]
    wrong_receipts: bool,
    /// Serve a self-consistent fake chain.
    #[arg(long)]
    fake_chain: bool,
    /// Never answer.
    #[arg(long)]
    stall: bool,
    /// Drop the connection on every n-th request.
    #[arg(long)]
    disconnect_every: Option<String>,
    /// Start serving only up to this block.
    #[arg(long)]
    head_start: Option<String>,
    /// Advance the head by one block every this many ms.
    #[arg(long)]
    head_advance_ms: Option<String>,
    /// Switch to the fork after this many ms.
    #[arg(long)]
    fork_switch_ms: Option<String>,
}

impl KnobFlags {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let flag = |on: bool| on.then(|| "true".to_owned());
        [
            ("latency-ms", self.latency_ms.clone()),
            ("bandwidth", self.bandwidth.clone()),
            ("max-items", self.max_items.clone()),
            ("expired-below", self.expired_below.clone()),
            ("wrong-receipts", flag(self.wrong_receipts)),
            ("fake-chain", flag(self.fake_chain)),
            ("stall", flag(self.stall)),
            ("disconnect-every", self.disconnect_every.clone()),
            ("head-start", self.head_start.clone()),
            ("head-advance-ms", self.head_advance_ms.clone()),
            ("fork-switch-ms", self.fork_switch_ms.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

fn config(args: &Args) -> Result<TestnetConfig, String> {
    let kind = if args.synthetic {
        ChainKind::Synthetic
    } else {
        ChainKind::Mainnet
    };
    let mut config = TestnetConfig::new(kind, args.blocks, args.peers);
    config.seed = args.seed;
    config.checkpoint = args.checkpoint;
    config.listen = args.listen;
    config.out_dir = Some(args.out.clone());
    config.fork_at = args.fork_at;
    for (name, value) in args.knobs.pairs() {
        config.knobs.set(name, &value).map_err(|e| e.to_string())?;
    }
    for spec in &args.peer_knob {
        let bad = || format!("--peer-knob {spec:?}: expected INDEX:NAME=VALUE");
        let (index, knob) = spec.split_once(':').ok_or_else(bad)?;
        let index: usize = index.parse().map_err(|_| bad())?;
        if index >= args.peers {
            return Err(format!(
                "--peer-knob {spec:?}: there are only {} peers",
                args.peers
            ));
        }
        let (name, value) = knob.split_once('=').unwrap_or((knob, "true"));
        let mut knobs = config.knobs_of(index);
        knobs.set(name, value).map_err(|e| e.to_string())?;
        config.peer_knobs.push((index, knobs));
    }
    Ok(config)
}

async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("histd-testnet: {e}");
            return ExitCode::from(2);
        }
    };
    let net = match Testnet::start(config).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("histd-testnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    for enode in net.enodes() {
        println!("ENODE {enode}");
    }
    let (number, hash) = net.head();
    println!("HEAD {number} {hash}");
    if let Some(path) = &net.chain_toml {
        println!("CHAIN {}", path.display());
    }
    stopped().await;
    net.stop();
    for (i, c) in net.counts().iter().enumerate() {
        println!(
            "REQUESTS {i} headers={} bodies={} receipts={} blocks={}",
            c.headers, c.bodies, c.receipts, c.blocks_served
        );
    }
    ExitCode::SUCCESS
}
