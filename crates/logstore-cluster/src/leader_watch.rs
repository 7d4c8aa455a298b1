//! Starting an election once the leader's lease has run out.
//!
//! openraft (0.9 and 0.10 alike) waits longer than its election timeout
//! suggests. A follower that knows a leader campaigns only after the
//! leader's lease (`election_timeout_max`) *and* its own election timeout
//! have passed without a message, checked on a tick (in 0.9 every 1.5
//! heartbeat intervals): with 100 ms heartbeats and 300–600 ms timeouts,
//! 0.9–1.35 s. A node that once lost an election to a voter with a longer
//! log waits twice `election_timeout_max` (1.2 s) more, and keeps that
//! penalty until it next campaigns: after an election lost during a load
//! peak, that is the next failover, when its log is as long as anyone's.
//!
//! Waiting out the lease is needed (a voter refuses its vote while its own
//! lease of the leader runs); the rest is not. So the transport reports
//! every message from the leader as it arrives
//! ([`Node::heard_from_leader`](crate::Node::heard_from_leader)), and a
//! follower or candidate that has heard nothing for the lease plus
//! 100–250 ms (drawn anew for every wait, so that two followers seldom
//! campaign at once) starts an election. openraft's own timer still runs
//! beside it. Messages are counted on arrival, so a node whose raft core is
//! busy (a large record being written) does not mistake that for a silent
//! leader.
//!
//! A node that has not heard from any leader since it started (a restart,
//! a whole cluster starting) leaves elections to openraft's own timer: a
//! restarted node may wait a while for the leader's first message, as the
//! leader's retries to a dead node back off, and campaigning then would
//! depose a healthy leader.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::{Config, ServerState, TokioRuntime};

use crate::types::Raft;

/// How often the watch looks at the time since the leader was heard.
const POLL: Duration = Duration::from_millis(10);

/// When the leader (or a candidate this node voted for) was last heard.
pub(crate) struct LeaderContact {
    origin: Instant,
    /// Microseconds from `origin`.
    last: AtomicU64,
    /// Whether anything was heard since the node started.
    heard_once: AtomicBool,
}

impl LeaderContact {
    pub(crate) fn new() -> LeaderContact {
        LeaderContact {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            heard_once: AtomicBool::new(false),
        }
    }

    /// Notes a message from the leader that arrived at `at`.
    pub(crate) fn heard(&self, at: Instant) {
        let micros = at.saturating_duration_since(self.origin).as_micros();
        self.last
            .fetch_max(u64::try_from(micros).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.heard_once.store(true, Ordering::Relaxed);
    }

    fn silence(&self) -> Duration {
        let last = self.origin + Duration::from_micros(self.last.load(Ordering::Relaxed));
        last.elapsed()
    }
}

/// Watches `contact` for `raft` until raft stops.
pub(crate) async fn run(raft: Raft, contact: Arc<LeaderContact>, config: Config) {
    let mut wait = patience(&config);
    let mut poll = tokio::time::interval(POLL);
    loop {
        poll.tick().await;
        let (state, stopped) = {
            let m = raft.metrics();
            let m = m.borrow_watched();
            (m.state, m.running_state.is_err())
        };
        if stopped {
            return;
        }
        let campaigns = matches!(state, ServerState::Follower | ServerState::Candidate)
            && contact.heard_once.load(Ordering::Relaxed);
        if !campaigns || contact.silence() < wait {
            continue;
        }
        if raft.trigger().elect(false).await.is_err() {
            return; // raft stopped
        }
        // The next attempt, if this one fails, after another full wait.
        contact.heard(Instant::now());
        wait = patience(&config);
    }
}

/// The leader's lease plus 100–250 ms.
fn patience(config: &Config) -> Duration {
    let spread = config.new_rand_election_timeout::<TokioRuntime>() - config.election_timeout_min;
    let range = config.election_timeout_max - config.election_timeout_min;
    let jitter = 100 + spread * 150 / range.max(1);
    Duration::from_millis(config.election_timeout_max + jitter)
}
