//! One feed of dialable node records for the peer pool, from every source histd knows: static
//! peers from the config, EIP-1459 DNS lists (re-resolved periodically) and discv4 (seeded with the
//! bootnodes). Each source can be switched off; each record is tagged with where it came from.
//!
//! Owns starting and merging the sources; their tasks run on [`Discovery::tasks`] so the owner
//! can await them after cancelling. It never dials, never ranks and never deduplicates across
//! sources (the pool knows which peers it already has).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    dns::{DnsDiscovery, TxtResolver, records::TreeLink},
    node_record::NodeRecord,
    v4::{Discv4, Discv4Config, Discv4Error, Discv4Handle},
};
use crate::p2p::tasks::Tasks;

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `p2p.static_peers` in the config.
    Static,
    /// An EIP-1459 DNS list.
    Dns,
    /// discv4.
    Discv4,
}

impl Source {
    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dns => "dns",
            Self::Discv4 => "discv4",
        }
    }
}

/// A node to consider dialing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discovered {
    /// The node.
    pub record: NodeRecord,
    /// Its source.
    pub source: Source,
}

/// What to run. An empty list or `None` switches a source off.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// Peers to dial whatever discovery finds.
    pub static_peers: Vec<NodeRecord>,
    /// DNS lists to resolve (e.g. [`super::bootnodes::MAINNET_DNS`]).
    pub dns: Vec<TreeLink>,
    /// How often DNS lists are resolved again.
    pub dns_refresh: Duration,
    /// discv4 settings (its `bootnodes` seed the table), or `None` for no discv4.
    pub discv4: Option<Discv4Config>,
    /// Capacity of the merged channel.
    pub capacity: usize,
}

/// The running sources.
#[derive(Debug)]
pub struct Discovery {
    /// Records as they are found. Closes when every source has finished (or on cancel).
    pub records: mpsc::Receiver<Discovered>,
    /// The discv4 service, when running.
    pub discv4: Option<Discv4Handle>,
    /// Every task of every source: cancel the token given to [`start_discovery`], then
    /// [`Tasks::shutdown`] to await them.
    pub tasks: Tasks,
}

/// Starts every enabled source. Fails only if discv4 cannot bind its socket; DNS failures are
/// logged and retried at the next refresh.
pub async fn start_discovery<R>(
    settings: DiscoverySettings,
    resolver: R,
    cancel: CancellationToken,
) -> Result<Discovery, Discv4Error>
where
    R: TxtResolver + 'static,
{
    let (tx, rx) = mpsc::channel(settings.capacity.max(1));
    let tasks = Tasks::new("discovery");

    let discv4 = match settings.discv4 {
        Some(config) => {
            let (handle, mut found) =
                Discv4::spawn_tracked(config, cancel.child_token(), &tasks).await?;
            let tx = tx.clone();
            let cancel = cancel.clone();
            tasks.spawn("discv4 feed", async move {
                loop {
                    let record = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = found.recv() => match r { Some(r) => r, None => break },
                    };
                    if tx
                        .send(Discovered {
                            record,
                            source: Source::Discv4,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            Some(handle)
        }
        None => None,
    };

    if !settings.dns.is_empty() {
        let tx = tx.clone();
        let cancel = cancel.clone();
        let walker = DnsDiscovery::new(resolver);
        let (links, refresh) = (settings.dns, settings.dns_refresh);
        tasks.spawn("dns lists", async move {
            let work = async {
                loop {
                    for link in &links {
                        // What failed is skipped; every verified node found is kept.
                        let walked = walker.resolve_partial(link).await;
                        for e in &walked.errors {
                            warn!(tree = %link.domain, error = %e, "part of a DNS list skipped");
                        }
                        info!(tree = %link.domain, nodes = walked.nodes.len(), skipped = walked.errors.len(), "DNS list resolved");
                        for record in walked.nodes {
                            let d = Discovered {
                                record,
                                source: Source::Dns,
                            };
                            if tx.send(d).await.is_err() {
                                return;
                            }
                        }
                    }
                    tokio::time::sleep(refresh).await;
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = work => {}
            }
        });
    }

    let statics = settings.static_peers;
    tasks.spawn("static peers", async move {
        for record in statics {
            if tx
                .send(Discovered {
                    record,
                    source: Source::Static,
                })
                .await
                .is_err()
            {
                break;
            }
        }
    });

    Ok(Discovery {
        records: rx,
        discv4,
        tasks,
    })
}
