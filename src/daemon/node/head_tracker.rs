//! The head tracker worker: reports `head_seen` rises to the machine (`HeadAdvanced`) and
//! persists `head_seen` in storage, at most once a second (and once more when stopped, so the
//! last rise is kept).
//!
//! Owns the throttle and the persistence of `head_seen`. The value itself comes from the peer
//! pool (which already requires a second network to confirm a new head), through
//! [`NodeServices::head_seen`]; storage is reached through [`NodeServices::store`]. The persisted
//! value is only a hint (logged at start): a liar's head persisted by an older run must not hold
//! back the live head, so every live rise of this run is reported, even below it. It never
//! decides phases and never lowers the persisted head.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::services::{NodeServices, wait_services};
use crate::daemon::event::{Event, EventSender};
use crate::daemon::workers::WorkerError;
use crate::primitives::BlockNumber;
use crate::storage::StoreHandle;

/// At most one report (and one redb commit) per this period.
pub const HEAD_PERIOD: Duration = Duration::from_secs(1);

/// The head tracker's body.
pub async fn run(
    mut services: watch::Receiver<Option<NodeServices>>,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), WorkerError> {
    let Some(NodeServices {
        store,
        head_seen: heads,
        ..
    }) = wait_services(&mut services, &cancel).await
    else {
        return Ok(());
    };
    track(store, heads, events, cancel).await;
    Ok(())
}

/// Reports every live rise of `heads` (at most one per [`HEAD_PERIOD`]) and persists it as a
/// hint in `store`, until `cancel` fires or the head source or the machine is gone.
pub async fn track(
    store: StoreHandle,
    mut heads: watch::Receiver<Option<BlockNumber>>,
    events: EventSender,
    cancel: CancellationToken,
) {
    match store
        .read("reading the persisted head_seen", |s| s.head_seen())
        .await
    {
        Ok(h) => tracing::debug!(
            hint = ?h.map(|h| h.get()),
            "persisted head_seen (a hint: the head comes from live peers)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot read the persisted head_seen"),
    }
    let mut last: Option<BlockNumber> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = heads.changed() => if r.is_err() { break },
        }
        let Some(head) = *heads.borrow_and_update() else {
            continue;
        };
        if last.is_some_and(|l| head <= l) {
            continue;
        }
        last = Some(head);
        if !events.send(Event::HeadAdvanced { head_seen: head }).await {
            break;
        }
        persist(&store, head).await;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(HEAD_PERIOD) => {}
        }
    }
    // A rise seen during the last throttle period (or just before the stop) is kept too.
    let pending = *heads.borrow();
    if let Some(head) = pending.filter(|h| last.is_none_or(|l| *h > l)) {
        persist(&store, head).await;
    }
}

async fn persist(store: &StoreHandle, head: BlockNumber) {
    match store
        .write("persisting head_seen", move |s| s.set_head_seen(head))
        .await
    {
        Ok(()) => tracing::debug!(head = %head, "head_seen persisted"),
        Err(e) => tracing::warn!(head = %head, error = %e, "cannot persist head_seen"),
    }
}
