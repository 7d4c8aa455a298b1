//! The logstore-cluster side: three `logstore-cluster` processes on
//! 127.0.0.1, driven over HTTP.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::procs::{command, free_ports, Procs};
use crate::{big_record, throughput, trace_file, BigRecord, Error, Stats};

pub struct Cluster {
    procs: Procs,
    addrs: Vec<String>,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts 3 nodes in `dir`, under strace with their trace files in
    /// `trace` when given.
    pub async fn start(bin: &Path, dir: &Path, trace: Option<&Path>) -> Result<Cluster, Error> {
        std::fs::create_dir_all(dir)?;
        let addrs: Vec<String> = free_ports(3)?
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut procs = Procs::default();
        for i in 0..3 {
            let mut cmd = command(bin, trace_file(trace, i).as_deref());
            cmd.arg("--id").arg((i + 1).to_string());
            cmd.arg("--dir").arg(dir.join(format!("n{}", i + 1)));
            for (j, a) in addrs.iter().enumerate() {
                cmd.arg("--peer").arg(format!("{}={a}", j + 1));
            }
            if i == 0 {
                cmd.arg("--init");
            }
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            procs.spawn(&mut cmd)?;
        }
        let http = client(Duration::from_secs(60))?;
        let cluster = Cluster { procs, addrs, http };
        cluster.leader(Duration::from_secs(20)).await?;
        Ok(cluster)
    }

    /// The index of the node that the first node answering names leader.
    async fn leader(&self, timeout: Duration) -> Result<usize, Error> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            for a in &self.addrs {
                let Ok(r) = self.http.get(format!("http://{a}/status")).send().await else {
                    continue;
                };
                let text = r.text().await.unwrap_or_default();
                // "node N leader L"
                if let Some(Ok(l)) = text.split_whitespace().nth(3).map(str::parse::<usize>) {
                    return Ok(l - 1);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("no logstore-cluster leader".into())
    }
}

impl crate::Cluster for Cluster {
    fn procs(&self) -> &Procs {
        &self.procs
    }

    async fn rate(&self, size: usize, clients: usize, dur: Duration) -> Result<Stats, Error> {
        let leader = self.addrs[self.leader(TEN_S).await?].clone();
        let record = bytes::Bytes::from(vec![b'x'; size]);
        let mut conns = Vec::new();
        for _ in 0..clients {
            conns.push(Conn::new(&leader, Duration::from_secs(30))?);
        }
        throughput(conns, dur, move |conn| {
            let record = record.clone();
            async move { conn.append(record).await.is_ok() }
        })
        .await
    }

    /// Appends one 32 MiB record and reads it back from every node, by
    /// position and by replay.
    async fn big_record(&self) -> BigRecord {
        match self.try_big_record().await {
            Ok(b) => b,
            Err(e) => BigRecord {
                stored: false,
                intact: false,
                text: format!("failed: {e}"),
            },
        }
    }

    async fn failover(&mut self) -> Result<Duration, Error> {
        self.kill_leader().await
    }

    async fn append_one(&self) -> Result<(), Error> {
        let leader = self.addrs[self.leader(TEN_S).await?].clone();
        post_record(
            &self.http,
            &format!("http://{leader}/append"),
            "x".repeat(100).into(),
        )
        .await?;
        Ok(())
    }
}

impl Cluster {
    async fn try_big_record(&self) -> Result<BigRecord, Error> {
        let record = big_record();
        let conn = Conn::new(
            &self.addrs[self.leader(TEN_S).await?],
            Duration::from_secs(60),
        )?;
        let t = Instant::now();
        let pos = conn.append(record.clone().into()).await?;
        let took = t.elapsed();
        let mut intact = 0;
        for a in &self.addrs {
            self.wait_applied(a, pos + 1).await?;
            let read = self.get(&format!("http://{a}/read/{pos}")).await?;
            let replay = self
                .get(&format!("http://{a}/replay?from={pos}&limit=1"))
                .await?;
            let mut line = format!("{pos}\t").into_bytes();
            line.extend_from_slice(&record);
            line.push(b'\n');
            intact += usize::from(read[..] == record[..] && replay[..] == line[..]);
        }
        Ok(BigRecord {
            stored: true,
            intact: intact == 3,
            text: format!(
                "appended in {:.2} s, read back intact (by position and by replay) from {intact} of 3 nodes",
                took.as_secs_f64()
            ),
        })
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, Error> {
        let r = self.http.get(url).send().await?.error_for_status()?;
        Ok(r.bytes().await?)
    }

    async fn wait_applied(&self, addr: &str, next: u64) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.get(&format!("http://{addr}/positions")).await?;
            let text = String::from_utf8_lossy(&text);
            // "first next"
            if text.split_whitespace().nth(1).and_then(|n| n.parse().ok()) >= Some(next) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{addr} did not apply position {}", next - 1).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the leader; returns the time to the next acknowledged
    /// append, sent to the surviving nodes in turn.
    async fn kill_leader(&mut self) -> Result<Duration, Error> {
        let leader = self.leader(TEN_S).await?;
        let quick = client(Duration::from_millis(500))?;
        let survivors: Vec<String> = (0..3)
            .filter(|&i| i != leader)
            .map(|i| format!("http://{}/append", self.addrs[i]))
            .collect();
        let killed = Instant::now();
        self.procs.kill(leader)?;
        while killed.elapsed() < Duration::from_secs(30) {
            for url in &survivors {
                if post_record(&quick, url, "after failover".into())
                    .await
                    .is_ok()
                {
                    return Ok(killed.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err("no append acknowledged within 30 s of killing the leader".into())
    }
}

const TEN_S: Duration = Duration::from_secs(10);

fn client(timeout: Duration) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder().timeout(timeout).build()?)
}

/// One append to one node; the record's position once acknowledged.
async fn post_record(
    http: &reqwest::Client,
    url: &str,
    record: bytes::Bytes,
) -> Result<u64, Error> {
    let r = http.post(url).body(record).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if status != StatusCode::OK {
        return Err(format!("{status}: {}", text.trim()).into());
    }
    Ok(text.trim().parse()?)
}

/// A client with its own connection that follows the leader: a node that
/// is not the leader answers 421 with the leader's address, and the client
/// sends there from then on, as an application would.
#[derive(Clone)]
struct Conn {
    http: reqwest::Client,
    leader: Arc<Mutex<String>>,
}

impl Conn {
    fn new(leader: &str, timeout: Duration) -> Result<Conn, Error> {
        Ok(Conn {
            http: client(timeout)?,
            leader: Arc::new(Mutex::new(leader.to_string())),
        })
    }

    /// Appends `record`, following the leader for up to 10 s; an answer
    /// other than 421 ends the attempt.
    async fn append(&self, record: bytes::Bytes) -> Result<u64, Error> {
        let deadline = Instant::now() + TEN_S;
        loop {
            let addr = self.leader.lock().unwrap().clone();
            let r = self
                .http
                .post(format!("http://{addr}/append"))
                .body(record.clone())
                .send()
                .await?;
            let status = r.status();
            let hint = r.headers().get("x-leader").and_then(|h| h.to_str().ok());
            let hint = hint.map(str::to_string);
            match (status, hint) {
                (StatusCode::MISDIRECTED_REQUEST, Some(hint)) if Instant::now() < deadline => {
                    *self.leader.lock().unwrap() = hint;
                }
                (StatusCode::MISDIRECTED_REQUEST, None) if Instant::now() < deadline => {
                    // No leader known yet: an election is under way.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (StatusCode::OK, _) => return Ok(r.text().await?.trim().parse()?),
                _ => return Err(format!("{status}: {}", r.text().await?.trim()).into()),
            }
        }
    }
}
