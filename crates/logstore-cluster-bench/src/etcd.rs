//! The etcd side: three `etcd` (3.5) members on 127.0.0.1 in one cluster,
//! driven through the JSON gateway that each member serves on its client
//! port (`POST /v3/kv/put`, key and value in base64).
//!
//! etcd syncs its write-ahead log before a member acknowledges an entry
//! (fsync is on unless `--unsafe-no-fsync` is given, and it is not), so a
//! put is answered once a quorum of members has it on disk. Every client
//! sends to the leader (a follower would forward the proposal to it), with
//! its own key, so that etcd gets its best case. The default request limit
//! (`--max-request-bytes`, 1.5 MiB) applies to the gRPC request behind the
//! gateway, whose value is the decoded bytes: a 1 MiB put fits and a
//! 32 MiB one does not. The backend quota is raised to 8 GiB so that the
//! 1 MiB cases do not fill it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::procs::{command, free_ports, Procs};
use crate::{big_record, retry, throughput, trace_file, BigRecord, Error, Stats};

pub struct Cluster {
    procs: Procs,
    /// Client URLs, `http://127.0.0.1:PORT`.
    urls: Vec<String>,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts 3 members of `bin` in `dir`, under strace with their trace
    /// files in `trace` when given.
    pub async fn start(bin: &Path, dir: &Path, trace: Option<&Path>) -> Result<Cluster, Error> {
        std::fs::create_dir_all(dir)?;
        let ports = free_ports(6)?;
        let url = |p: u16| format!("http://127.0.0.1:{p}");
        let initial: Vec<String> = (0..3)
            .map(|i| format!("m{i}={}", url(ports[3 + i])))
            .collect();
        let mut procs = Procs::default();
        for i in 0..3 {
            let log = std::fs::File::create(dir.join(format!("m{i}.log")))?;
            let mut cmd = command(bin, trace_file(trace, i).as_deref());
            cmd.arg("--name").arg(format!("m{i}"));
            cmd.arg("--data-dir").arg(dir.join(format!("m{i}")));
            cmd.arg("--listen-client-urls").arg(url(ports[i]));
            cmd.arg("--advertise-client-urls").arg(url(ports[i]));
            cmd.arg("--listen-peer-urls").arg(url(ports[3 + i]));
            cmd.arg("--initial-advertise-peer-urls")
                .arg(url(ports[3 + i]));
            cmd.arg("--initial-cluster").arg(initial.join(","));
            cmd.args(["--initial-cluster-state", "new"]);
            cmd.args(["--initial-cluster-token", "bench"]);
            cmd.args(["--quota-backend-bytes", &(8u64 << 30).to_string()]);
            cmd.args(["--log-level", "warn"]);
            cmd.stdout(Stdio::null()).stderr(log);
            procs.spawn(&mut cmd)?;
        }
        let urls: Vec<String> = ports[..3].iter().map(|&p| url(p)).collect();
        let http = client(Duration::from_secs(60))?;
        let mut cluster = Cluster { procs, urls, http };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if (0..3).any(|i| !cluster.procs.running(i)) {
                return Err(format!("an etcd member exited; see {}", dir.display()).into());
            }
            match cluster.leader().await {
                Ok(l)
                    if put(&cluster.http, &cluster.urls[l], &body("k", b"up"))
                        .await
                        .is_ok() =>
                {
                    break
                }
                _ if Instant::now() > deadline => {
                    return Err("the etcd cluster did not come up in 60 s".into())
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Ok(cluster)
    }

    /// The index of the leader, as the first member answering names it.
    async fn leader(&self) -> Result<usize, Error> {
        let mut ids = Vec::new();
        let mut leader = None;
        for u in &self.urls {
            let s = status(&self.http, u).await?;
            ids.push(s.0);
            leader = leader.or(Some(s.1));
        }
        let leader = leader.ok_or("no member answered")?;
        ids.iter()
            .position(|&id| id == leader)
            .ok_or_else(|| format!("no leader yet ({leader})").into())
    }
}

impl crate::Cluster for Cluster {
    fn procs(&self) -> &Procs {
        &self.procs
    }

    async fn rate(&self, size: usize, clients: usize, dur: Duration) -> Result<Stats, Error> {
        let leader = self.urls[retry(TEN_S, "no etcd leader", || self.leader()).await?].clone();
        let value = vec![b'x'; size];
        let mut conns = Vec::new();
        for i in 0..clients {
            let body = body(&format!("bench/{i}"), &value);
            conns.push((client(Duration::from_secs(30))?, leader.clone(), body));
        }
        throughput(conns, dur, move |(http, url, body)| async move {
            put(&http, &url, &body).await.is_ok()
        })
        .await
    }

    /// Puts one 32 MiB value; says what etcd answered, and if it was
    /// stored, whether every member reads it back unchanged.
    async fn big_record(&self) -> BigRecord {
        let record = big_record();
        let leader = match retry(TEN_S, "no etcd leader", || self.leader()).await {
            Ok(l) => l,
            Err(e) => return refused(format!("failed: {e}")),
        };
        let t = Instant::now();
        let r = put(&self.http, &self.urls[leader], &body("big", &record)).await;
        let took = t.elapsed().as_secs_f64();
        match r {
            Err(e) => refused(format!("refused after {took:.2} s: {e}")),
            Ok(()) => {
                let want = base64(&record);
                let mut intact = 0;
                for u in &self.urls {
                    let r = self
                        .http
                        .post(format!("{u}/v3/kv/range"))
                        .body(format!("{{\"key\":\"{}\"}}", base64(b"big")))
                        .send()
                        .await;
                    if let Ok(r) = r {
                        let text = r.text().await.unwrap_or_default();
                        intact += usize::from(text.contains(&format!("\"value\":\"{want}\"")));
                    }
                }
                BigRecord {
                    stored: true,
                    intact: intact == 3,
                    text: format!(
                        "stored in {took:.2} s; read back intact from {intact} of 3 members"
                    ),
                }
            }
        }
    }

    /// SIGKILLs the leader; the time to the next acknowledged put, sent
    /// to the surviving members in turn.
    async fn failover(&mut self) -> Result<Duration, Error> {
        let leader = retry(TEN_S, "no etcd leader", || self.leader()).await?;
        let quick = client(Duration::from_millis(500))?;
        let survivors: Vec<&String> = (0..3)
            .filter(|&i| i != leader)
            .map(|i| &self.urls[i])
            .collect();
        let after = body("after-failover", b"after failover");
        let killed = Instant::now();
        self.procs.kill(leader)?;
        while killed.elapsed() < Duration::from_secs(30) {
            for u in &survivors {
                if put(&quick, u, &after).await.is_ok() {
                    return Ok(killed.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err("no put acknowledged within 30 s of killing the leader".into())
    }

    async fn append_one(&self) -> Result<(), Error> {
        let leader = retry(TEN_S, "no etcd leader", || self.leader()).await?;
        put(&self.http, &self.urls[leader], &body("one", &[b'x'; 100])).await
    }
}

const TEN_S: Duration = Duration::from_secs(10);

fn refused(text: String) -> BigRecord {
    BigRecord {
        stored: false,
        intact: false,
        text,
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder().timeout(timeout).build()?)
}

/// The JSON body of a put.
fn body(key: &str, value: &[u8]) -> bytes::Bytes {
    format!(
        "{{\"key\":\"{}\",\"value\":\"{}\"}}",
        base64(key.as_bytes()),
        base64(value)
    )
    .into()
}

/// One put through the gateway at `url`, acknowledged once committed.
async fn put(http: &reqwest::Client, url: &str, body: &bytes::Bytes) -> Result<(), Error> {
    let r = http
        .post(format!("{url}/v3/kv/put"))
        .body(body.clone())
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    // A committed put answers with its header; an error with
    // {"error": ..., "code": ..., "message": ...}.
    if status != StatusCode::OK || !text.contains("\"header\"") {
        let text: String = text.trim().chars().take(300).collect();
        return Err(format!("{status}: {text}").into());
    }
    Ok(())
}

/// `/v3/maintenance/status` of the member at `url`: its id and its
/// leader's id (0 while there is none).
async fn status(http: &reqwest::Client, url: &str) -> Result<(u64, u64), Error> {
    let text = http
        .post(format!("{url}/v3/maintenance/status"))
        .body("{}")
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .text()
        .await?;
    let id = json_u64(&text, "member_id").ok_or_else(|| format!("no member_id in {text}"))?;
    Ok((id, json_u64(&text, "leader").unwrap_or(0)))
}

/// The first field `name` of a JSON text holding a 64-bit number, which
/// the gateway writes as a string.
fn json_u64(text: &str, name: &str) -> Option<u64> {
    let at = text.find(&format!("\"{name}\""))? + name.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.trim_start_matches('"');
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn numbers_quoted_or_not() {
        let t = r#"{"header":{"member_id":"123","raft_term":"2"},"leader":"456","x":7}"#;
        assert_eq!(json_u64(t, "member_id"), Some(123));
        assert_eq!(json_u64(t, "leader"), Some(456));
        assert_eq!(json_u64(t, "x"), Some(7));
        assert_eq!(json_u64(t, "y"), None);
    }
}
