//! The NATS JetStream side: three `nats-server` processes (2.10 or later)
//! on 127.0.0.1 in one cluster, and a stream with 3 replicas in file
//! storage.
//!
//! Each server has `sync_interval: always`: it syncs its stream files
//! after every write, so a message is acknowledged once a quorum of
//! replicas has it on disk (`sync-check` counts the syncs). Clients
//! connect to the three servers in turn; a publish goes to the stream
//! leader through the cluster.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

use crate::procs::{command, free_ports, Procs};
use crate::{big_record, throughput, trace_file, BigRecord, Error, Stats};

const STREAM: &str = "BENCH";
const SUBJECT: &str = "bench";

pub struct Cluster {
    procs: Procs,
    urls: Vec<String>,
    js: jetstream::Context,
}

/// The server configuration: client, cluster and (absent) monitoring
/// ports all on 127.0.0.1; the largest payload nats-server accepts; a
/// sync after every write.
fn config(dir: &Path, i: usize, port: u16, cluster_port: u16, routes: &[String]) -> String {
    format!(
        "server_name: n{i}\nlisten: 127.0.0.1:{port}\nmax_payload: 64MB\n\
         jetstream {{ store_dir: \"{}\", sync_interval: always }}\n\
         cluster {{ name: bench, listen: 127.0.0.1:{cluster_port}, routes: [{}] }}\n",
        dir.join(format!("n{i}")).display(),
        routes.join(", ")
    )
}

async fn connect(url: &str, timeout: Duration) -> Result<jetstream::Context, Error> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(timeout)
        .build(client))
}

impl Cluster {
    /// Starts 3 servers of `bin` in `dir`, under strace with their trace
    /// files in `trace` when given.
    pub async fn start(bin: &Path, dir: &Path, trace: Option<&Path>) -> Result<Cluster, Error> {
        std::fs::create_dir_all(dir)?;
        let ports = free_ports(6)?;
        let routes: Vec<String> = ports[3..]
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut procs = Procs::default();
        for i in 0..3 {
            let path = dir.join(format!("n{i}.conf"));
            std::fs::write(&path, config(dir, i, ports[i], ports[3 + i], &routes))?;
            let log = std::fs::File::create(dir.join(format!("n{i}.log")))?;
            let mut cmd = command(bin, trace_file(trace, i).as_deref());
            cmd.arg("-c").arg(&path);
            cmd.stdout(Stdio::null()).stderr(log);
            procs.spawn(&mut cmd)?;
        }
        let urls: Vec<String> = ports[..3]
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        // The servers elect a metadata leader before a stream can be made.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if (0..3).any(|i| !procs.running(i)) {
                return Err(format!("a nats-server exited; see {}", dir.display()).into());
            }
            let last_error = match connect(&urls[0], Duration::from_secs(5)).await {
                Ok(js) => match js.get_or_create_stream(stream_config()).await {
                    Ok(_) => break,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                let e = format!("the JetStream cluster did not come up in 90 s: {last_error}");
                return Err(e.into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let js = connect(&urls[0], Duration::from_secs(60)).await?;
        Ok(Cluster { procs, urls, js })
    }
}

impl crate::Cluster for Cluster {
    fn procs(&self) -> &Procs {
        &self.procs
    }

    async fn rate(&self, size: usize, clients: usize, dur: Duration) -> Result<Stats, Error> {
        let record = bytes::Bytes::from(vec![b'x'; size]);
        let mut conns = Vec::new();
        for i in 0..clients {
            conns.push(connect(&self.urls[i % 3], Duration::from_secs(30)).await?);
        }
        throughput(conns, dur, move |js| {
            let record = record.clone();
            async move { publish(&js, record).await.is_ok() }
        })
        .await
    }

    /// Publishes one 32 MiB record; says what JetStream answered.
    async fn big_record(&self) -> BigRecord {
        let record = big_record();
        let t = Instant::now();
        let stored = match publish(&self.js, record.clone().into()).await {
            Ok(seq) => seq,
            Err(e) => {
                return BigRecord {
                    stored: false,
                    intact: false,
                    text: format!("refused after {:.2} s: {e}", t.elapsed().as_secs_f64()),
                }
            }
        };
        let took = t.elapsed();
        let read = match self.js.get_stream(STREAM).await {
            Ok(s) => match s.get_raw_message(stored).await {
                Ok(m) if m.payload[..] == record[..] => "read back intact".to_string(),
                Ok(m) => format!("read back with {} bytes that differ", m.payload.len()),
                Err(e) => format!("reading it back failed: {e}"),
            },
            Err(e) => format!("reading it back failed: {e}"),
        };
        BigRecord {
            stored: true,
            intact: read == "read back intact",
            text: format!(
                "stored in {:.2} s as sequence {stored}; {read}",
                took.as_secs_f64()
            ),
        }
    }

    async fn append_one(&self) -> Result<(), Error> {
        publish(&self.js, bytes::Bytes::from(vec![b'x'; 100])).await?;
        Ok(())
    }

    /// SIGKILLs the server leading the stream; returns the time to the
    /// next acknowledged publish, from a client connected to a survivor.
    async fn failover(&mut self) -> Result<Duration, Error> {
        let mut s = self.js.get_stream(STREAM).await?;
        let leader = s
            .info()
            .await?
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .ok_or("the stream has no leader")?;
        let leader: usize = leader.trim_start_matches('n').parse()?;
        let survivor = connect(&self.urls[(leader + 1) % 3], Duration::from_millis(500)).await?;
        let killed = Instant::now();
        self.procs.kill(leader)?;
        while killed.elapsed() < Duration::from_secs(30) {
            if publish(&survivor, "after failover".into()).await.is_ok() {
                return Ok(killed.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err("no publish acknowledged within 30 s of killing the stream leader".into())
    }
}

fn stream_config() -> stream::Config {
    stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECT.into()],
        num_replicas: 3,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// Publishes one record and waits for the stream's acknowledgment; the
/// record's sequence.
async fn publish(js: &jetstream::Context, record: bytes::Bytes) -> Result<u64, Error> {
    let ack = js.publish(SUBJECT, record).await?.await?;
    Ok(ack.sequence)
}
