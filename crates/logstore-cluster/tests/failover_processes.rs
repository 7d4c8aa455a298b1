//! Guards against losing or duplicating acknowledged records when a leader
//! process dies: three node processes on 127.0.0.1 talking HTTP, a client
//! appending without pause, the leader killed with SIGKILL, writes resumed
//! on a new leader, the killed node restarted and caught up.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 3;

/// Kills every node process it holds when dropped, so none outlives the test.
struct Cluster {
    dir: tempfile::TempDir,
    addrs: Vec<String>,
    children: Vec<Option<Child>>,
}

impl Cluster {
    fn start() -> Cluster {
        let addrs: Vec<String> = (0..NODES)
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().to_string()
            })
            .collect();
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            addrs,
            children: (0..NODES).map(|_| None).collect(),
        };
        for i in 0..NODES {
            c.spawn(i, i == 0);
        }
        c
    }

    fn spawn(&mut self, i: usize, init: bool) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_logstore-cluster"));
        cmd.arg("--id")
            .arg((i + 1).to_string())
            .arg("--dir")
            .arg(self.dir.path().join(format!("n{}", i + 1)));
        for (j, a) in self.addrs.iter().enumerate() {
            cmd.arg("--peer").arg(format!("{}={a}", j + 1));
        }
        if init {
            cmd.arg("--init");
        }
        let log = std::fs::File::create(log_path(self.dir.path(), i)).unwrap();
        cmd.stdout(Stdio::null()).stderr(log);
        self.children[i] = Some(cmd.spawn().unwrap());
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }
}

fn log_path(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("n{}.log", i + 1))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..NODES {
            self.kill(i);
        }
    }
}

struct Client {
    http: reqwest::Client,
    addrs: Vec<String>,
    leader: usize,
    acked: Vec<(u64, String)>,
    ambiguous: Vec<String>,
}

enum Outcome {
    Acked(u64),
    NotDone,
    Unknown,
}

impl Client {
    async fn try_append(&mut self, record: &str) -> Outcome {
        let url = format!("http://{}/append", self.addrs[self.leader]);
        let sent = self.http.post(url).body(record.to_string()).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                self.leader = (self.leader + 1) % self.addrs.len();
                return Outcome::NotDone;
            }
            Err(_) => return Outcome::Unknown,
        };
        let status = resp.status().as_u16();
        let leader_hint = resp.headers().get("x-leader").cloned();
        let body = resp.text().await.unwrap_or_default();
        match status {
            200 => Outcome::Acked(body.trim().parse().unwrap()),
            421 => {
                let hint = leader_hint.and_then(|h| h.to_str().ok().map(str::to_string));
                self.leader = match hint.and_then(|h| self.addrs.iter().position(|a| *a == h)) {
                    Some(i) => i,
                    None => (self.leader + 1) % self.addrs.len(),
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
                Outcome::NotDone
            }
            _ => Outcome::Unknown,
        }
    }

    /// Appends until acknowledged or the outcome is unknown; returns when.
    async fn append(&mut self, record: String) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.try_append(&record).await {
                Outcome::Acked(pos) => {
                    self.acked.push((pos, record));
                    return Instant::now();
                }
                Outcome::NotDone => {}
                Outcome::Unknown => {
                    // It may have been committed: never send it again.
                    self.ambiguous.push(record);
                    return Instant::now();
                }
            }
        }
        panic!("no node accepted an append for 30 s");
    }

    async fn get(&self, i: usize, path: &str) -> Option<String> {
        let url = format!("http://{}{path}", self.addrs[i]);
        let resp = self.http.get(url).send().await.ok()?;
        resp.status().is_success().then_some(())?;
        resp.text().await.ok()
    }

    /// The leader named by the first node that names one (a node just
    /// restarted may not know it yet).
    async fn leader_index(&self) -> Option<usize> {
        for i in 0..self.addrs.len() {
            let Some(s) = self.get(i, "/status").await else {
                continue;
            };
            if let Some(leader) = s
                .split_whitespace()
                .nth(3)
                .and_then(|l| l.parse::<usize>().ok())
            {
                return Some(leader - 1);
            }
        }
        None
    }

    /// The leader, once a node names one (within 10 s).
    async fn wait_leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(leader) = self.leader_index().await {
                return leader;
            }
            assert!(Instant::now() < deadline, "no node names a leader");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn records(&self, i: usize) -> Vec<(u64, String)> {
        let text = self.get(i, "/replay?from=0&limit=1000000").await.unwrap();
        text.lines()
            .map(|l| {
                let (p, r) = l.split_once('\t').unwrap();
                (p.parse().unwrap(), r.to_string())
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_process_loses_and_duplicates_no_acknowledged_record() {
    let mut cluster = Cluster::start();
    let mut client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        addrs: cluster.addrs.clone(),
        leader: 0,
        acked: Vec::new(),
        ambiguous: Vec::new(),
    };
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        format!("record {seq:06}")
    };
    while client.acked.len() < 100 {
        client.append(next()).await;
    }

    let old = client.wait_leader().await;
    cluster.kill(old);
    let killed_at = Instant::now();
    let stall = loop {
        let before = client.acked.len();
        let at = client.append(next()).await;
        if client.acked.len() > before {
            break at - killed_at;
        }
    };
    eprintln!(
        "killed node {}; first append acknowledged after {stall:?}",
        old + 1
    );
    assert!(stall < Duration::from_secs(5), "write stall {stall:?}");
    while client.acked.len() < 200 {
        client.append(next()).await;
    }

    cluster.spawn(old, false);
    client.append(next()).await;
    // The reference is the survivor holding the most records: right after
    // its restart the old leader may still name itself leader from its
    // persisted state, and a follower may lag in applying.
    let mut leader = client.wait_leader().await;
    let mut target = 0;
    for i in (0..NODES).filter(|&i| i != old) {
        let n = client.records(i).await.len();
        if n > target {
            (leader, target) = (i, n);
        }
    }
    // Every node applies up to the reference: the restarted one catching
    // up, and the other survivor too (it may lag the reference in applying,
    // as it learns the commit point with the leader's next message).
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..NODES {
        loop {
            let applied = match client.get(i, "/positions").await {
                Some(p) => p
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                None => 0,
            };
            if applied >= target {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} applied {applied} of {target} records",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let reference = client.records(leader).await;
    for i in 0..NODES {
        let records = client.records(i).await;
        assert_eq!(
            records[..target],
            reference[..target],
            "node {} differs",
            i + 1
        );
    }
    let by_pos: BTreeMap<u64, &String> = reference.iter().map(|(p, r)| (*p, r)).collect();
    for (pos, record) in &client.acked {
        assert_eq!(
            by_pos.get(pos),
            Some(&record),
            "acknowledged record at {pos}"
        );
    }
    let distinct: HashSet<&String> = reference.iter().map(|(_, r)| r).collect();
    assert_eq!(distinct.len(), reference.len(), "a record appears twice");
    let found_ambiguous = client
        .ambiguous
        .iter()
        .filter(|r| distinct.contains(r))
        .count();
    assert_eq!(reference.len(), client.acked.len() + found_ambiguous);
    drop(cluster);
}
