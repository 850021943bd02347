//! The head tracker worker: reports `head_seen` rises to the machine (`HeadAdvanced`) and
//! persists `head_seen` in storage, at most once a second.
//!
//! Owns the throttle and the persistence of `head_seen`. The value itself comes from the peer
//! pool (which already requires a second peer to confirm a new head). It never decides phases and
//! never lowers a head.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::network::wait_opened;
use super::open::Opened;
use crate::daemon::event::{Event, EventSender};
use crate::daemon::workers::WorkerError;
use crate::primitives::BlockNumber;

/// At most one report (and one redb commit) per this period.
pub const HEAD_PERIOD: Duration = Duration::from_secs(1);

/// The head tracker's body.
pub async fn run(
    mut opened: watch::Receiver<Option<Arc<Opened>>>,
    mut heads: watch::Receiver<Option<BlockNumber>>,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), WorkerError> {
    let Some(node) = wait_opened(&mut opened, &cancel).await else {
        return Ok(());
    };
    let storage = node.storage.clone();
    drop(node);
    let mut last: Option<BlockNumber> = match storage.head_seen() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the persisted head_seen");
            None
        }
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = heads.changed() => if r.is_err() { return Ok(()) },
        }
        let Some(head) = *heads.borrow_and_update() else {
            continue;
        };
        if last.is_some_and(|l| head <= l) {
            continue;
        }
        last = Some(head);
        if !events.send(Event::HeadAdvanced { head_seen: head }).await {
            return Ok(());
        }
        let s = storage.clone();
        match tokio::task::spawn_blocking(move || s.set_head_seen(head)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(head = %head, error = %e, "cannot persist head_seen"),
            Err(e) => tracing::warn!(head = %head, error = %e, "persisting head_seen: task lost"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(HEAD_PERIOD) => {}
        }
    }
}
