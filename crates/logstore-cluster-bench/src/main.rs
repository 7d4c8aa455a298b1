//! Durable replicated appends: a 3-node logstore-cluster against a 3-node
//! NATS JetStream cluster (stream with 3 replicas, file storage), both on
//! 127.0.0.1, in the same run.
//!
//! Workload: for each record size (100 B, 4 KiB, 1 MiB) and client count
//! (1, 16), clients append records back to back for a fixed time, each
//! waiting for its acknowledgment (logstore: committed by a majority and
//! applied on the leader; JetStream: stored by a quorum of replicas). Then
//! the leader process is killed (SIGKILL) and the time to the next
//! acknowledged append is measured, and one 32 MiB record is appended and
//! read back from every node.
//!
//! ```text
//! cargo build --release -p logstore-cluster -p logstore-cluster-bench
//! target/release/logstore-cluster-bench [SECONDS_PER_CASE]
//! ```
//! It expects `target/release/logstore-cluster` and `nats-server` on PATH
//! (Debian's `nats-server` package).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

const SIZES: [usize; 3] = [100, 4 << 10, 1 << 20];
const CLIENTS: [usize; 2] = [1, 16];
const BIG: usize = 32 << 20;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Node processes, killed when dropped.
struct Procs(Vec<Option<Child>>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.0.iter_mut().flatten() {
            let _ = c.start_kill();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let secs: u64 = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let dur = Duration::from_secs(secs);
    let dir = tempfile::tempdir()?;
    let bin = std::env::current_exe()?.with_file_name("logstore-cluster");

    println!("| system | record | clients | appends/s | MiB/s |");
    println!("|---|---|---|---|---|");
    let mut ls_rates = Vec::new();
    {
        let (mut procs, addrs) = start_logstore(&bin, &dir.path().join("logstore")).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        for size in SIZES {
            for clients in CLIENTS {
                let rate = run_logstore(&http, &addrs, size, clients, dur).await?;
                print_row("logstore-cluster", size, clients, rate);
                ls_rates.push(rate);
            }
        }
        big_record_logstore(&http, &addrs).await?;
        failover_logstore(&http, &addrs, &mut procs).await?;
    }
    let mut js_rates = Vec::new();
    {
        let (_procs, js) = start_jetstream(&dir.path().join("nats")).await?;
        for size in SIZES {
            for clients in CLIENTS {
                let rate = run_jetstream(&js, size, clients, dur).await?;
                print_row("JetStream", size, clients, rate);
                js_rates.push(rate);
            }
        }
        match js.publish("bench", vec![7u8; BIG].into()).await {
            Ok(ack) => match ack.await {
                Ok(_) => println!("\nJetStream: 32 MiB record stored"),
                Err(e) => println!("\nJetStream: 32 MiB record refused: {e}"),
            },
            Err(e) => println!("\nJetStream: 32 MiB record refused: {e}"),
        }
    }
    println!("\n| record | clients | logstore / JetStream |");
    println!("|---|---|---|");
    let mut i = 0;
    for size in SIZES {
        for clients in CLIENTS {
            let ratio = ls_rates[i] / js_rates[i].max(f64::MIN_POSITIVE);
            println!("| {} | {clients} | {ratio:.2}x |", size_name(size));
            i += 1;
        }
    }
    Ok(())
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn print_row(system: &str, size: usize, clients: usize, rate: f64) {
    let mib = rate * size as f64 / f64::from(1 << 20);
    println!(
        "| {system} | {} | {clients} | {rate:.0} | {mib:.1} |",
        size_name(size)
    );
}

async fn start_logstore(bin: &Path, dir: &Path) -> Result<(Procs, Vec<String>), Error> {
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut procs = Procs(Vec::new());
    for i in 0..3 {
        procs.0.push(Some(spawn_node(bin, dir, &addrs, i, i == 0)?));
    }
    let http = reqwest::Client::new();
    wait_for_leader(&http, &addrs).await?;
    Ok((procs, addrs))
}

fn spawn_node(
    bin: &Path,
    dir: &Path,
    addrs: &[String],
    i: usize,
    init: bool,
) -> Result<Child, Error> {
    let mut cmd = Command::new(bin);
    cmd.arg("--id").arg((i + 1).to_string());
    cmd.arg("--dir").arg(dir.join(format!("n{}", i + 1)));
    for (j, a) in addrs.iter().enumerate() {
        cmd.arg("--peer").arg(format!("{}={a}", j + 1));
    }
    if init {
        cmd.arg("--init");
    }
    cmd.stderr(std::process::Stdio::null()).kill_on_drop(true);
    Ok(cmd.spawn()?)
}

async fn leader_of(http: &reqwest::Client, addrs: &[String]) -> Option<usize> {
    for a in addrs {
        let Ok(r) = http.get(format!("http://{a}/status")).send().await else {
            continue;
        };
        let text = r.text().await.ok()?;
        if let Some(Ok(l)) = text.split_whitespace().nth(3).map(str::parse::<usize>) {
            return Some(l - 1);
        }
    }
    None
}

async fn wait_for_leader(http: &reqwest::Client, addrs: &[String]) -> Result<usize, Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(l) = leader_of(http, addrs).await {
            return Ok(l);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("no leader elected".into())
}

/// One append through whichever node is leader; `Ok(None)` if it was not
/// acknowledged.
async fn append_once(http: &reqwest::Client, addr: &str, record: Vec<u8>) -> Option<u64> {
    let r = http
        .post(format!("http://{addr}/append"))
        .body(record)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()?.trim().parse().ok()
}

async fn run_logstore(
    http: &reqwest::Client,
    addrs: &[String],
    size: usize,
    clients: usize,
    dur: Duration,
) -> Result<f64, Error> {
    let leader = wait_for_leader(http, addrs).await?;
    let addr = addrs[leader].clone();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, addr, done) = (http.clone(), addr.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let record = vec![b'x'; size];
            while start.elapsed() < dur {
                if append_once(&http, &addr, record.clone()).await.is_some() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn big_record_logstore(http: &reqwest::Client, addrs: &[String]) -> Result<(), Error> {
    let leader = wait_for_leader(http, addrs).await?;
    let record: Vec<u8> = (0..BIG).map(|i| (i * 31 % 251) as u8).collect();
    let t = Instant::now();
    let pos = append_once(http, &addrs[leader], record.clone())
        .await
        .ok_or("32 MiB append failed")?;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut intact = 0;
    for a in addrs {
        let got = http
            .get(format!("http://{a}/read/{pos}"))
            .send()
            .await?
            .bytes()
            .await?;
        intact += usize::from(got[..] == record[..]);
    }
    println!(
        "\nlogstore-cluster: 32 MiB record appended in {took:?}, intact on {intact} of 3 nodes"
    );
    Ok(())
}

async fn failover_logstore(
    http: &reqwest::Client,
    addrs: &[String],
    procs: &mut Procs,
) -> Result<(), Error> {
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let leader = wait_for_leader(http, addrs).await?;
    if let Some(mut c) = procs.0[leader].take() {
        c.start_kill()?;
        c.wait().await?;
    }
    let killed = Instant::now();
    let others: Vec<&String> = addrs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, a)| a)
        .collect();
    loop {
        for a in &others {
            if append_once(&quick, a, b"after failover".to_vec())
                .await
                .is_some()
            {
                println!(
                    "logstore-cluster: leader killed, next append acknowledged after {:?}",
                    killed.elapsed()
                );
                return Ok(());
            }
        }
        if killed.elapsed() > Duration::from_secs(30) {
            return Err("no append acknowledged within 30 s of the failover".into());
        }
    }
}

async fn start_jetstream(dir: &Path) -> Result<(Procs, async_nats::jetstream::Context), Error> {
    std::fs::create_dir_all(dir)?;
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<String> = ports
        .iter()
        .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
        .collect();
    let mut procs = Procs(Vec::new());
    for (i, (port, cport)) in ports.iter().enumerate() {
        let conf = config(dir, i, *port, *cport, &routes);
        let path: PathBuf = dir.join(format!("n{i}.conf"));
        std::fs::write(&path, conf)?;
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        procs.0.push(Some(child));
    }
    let url = format!("127.0.0.1:{}", ports[0].0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(client) = async_nats::connect(&url).await {
            let js = async_nats::jetstream::new(client);
            let cfg = async_nats::jetstream::stream::Config {
                name: "BENCH".into(),
                subjects: vec!["bench".into()],
                num_replicas: 3,
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            };
            if js.get_or_create_stream(cfg).await.is_ok() {
                return Ok((procs, js));
            }
        }
        if Instant::now() > deadline {
            return Err("JetStream cluster did not come up".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config(dir: &Path, i: usize, port: u16, cport: u16, routes: &[String]) -> String {
    format!(
        "server_name: n{i}\nlisten: 127.0.0.1:{port}\nmax_payload: 64MB\n\
         jetstream {{ store_dir: \"{}\" }}\n\
         cluster {{ name: bench, listen: 127.0.0.1:{cport}, routes: [{}] }}\n",
        dir.join(format!("n{i}")).display(),
        routes.join(", ")
    )
}

async fn run_jetstream(
    js: &async_nats::jetstream::Context,
    size: usize,
    clients: usize,
    dur: Duration,
) -> Result<f64, Error> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (js, done) = (js.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let record = vec![b'x'; size];
            while start.elapsed() < dur {
                if let Ok(ack) = js.publish("bench", record.clone().into()).await {
                    if ack.await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}
