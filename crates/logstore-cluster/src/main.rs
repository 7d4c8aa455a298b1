//! `logstore-cluster`: runs one node of a replicated log over HTTP.
//!
//! ```text
//! logstore-cluster --id 1 --dir data/n1 \
//!     --peer 1=127.0.0.1:21001 --peer 2=127.0.0.1:21002 --peer 3=127.0.0.1:21003 --init
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use logstore_cluster::http::{routes, HttpNetwork};
use logstore_cluster::{Node, NodeId};

#[derive(Parser)]
#[command(about = "One node of a replicated log (logstore on openraft)")]
struct Args {
    /// This node's id; must be one of the peers.
    #[arg(long)]
    id: NodeId,
    /// Directory for this node's files.
    #[arg(long)]
    dir: PathBuf,
    /// A member of the cluster, as ID=HOST:PORT (repeat for each; this
    /// node listens on its own address).
    #[arg(long = "peer", value_parser = parse_peer, required = true)]
    peers: Vec<(NodeId, String)>,
    /// Create the cluster from the peers if it does not exist yet (give it
    /// to one node).
    #[arg(long)]
    init: bool,
}

fn parse_peer(s: &str) -> Result<(NodeId, String), String> {
    let (id, addr) = s.split_once('=').ok_or("expected ID=HOST:PORT")?;
    Ok((
        id.parse().map_err(|e| format!("bad id {id}: {e}"))?,
        addr.to_string(),
    ))
}

// Storage calls write and read records of up to 32 MiB on the runtime's
// threads; a few more threads than cores keep heartbeats and client
// requests moving meanwhile.
#[tokio::main(worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let addr = args
        .peers
        .iter()
        .find(|(id, _)| *id == args.id)
        .map(|(_, a)| a.clone())
        .ok_or("--id is not among the --peer entries")?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let node = Arc::new(Node::start(args.id, &args.dir, HttpNetwork::default()).await?);
    // The HTTP routes report the leader's messages to the watch.
    node.watch_leader();
    if args.init && node.raft().is_initialized().await? {
        eprintln!("node {}: cluster already initialized", args.id);
    } else if args.init {
        node.initialize(args.peers.clone()).await?;
    }
    eprintln!("node {} listening on {addr}", args.id);
    let app = routes(node.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await?;
    node.shutdown().await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
