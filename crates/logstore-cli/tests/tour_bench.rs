//! Guards the two commands for newcomers: `tour` (twice in a row on the
//! same directory, giving disk space back each time) and `bench --quick`
//! (which cleans up after itself).

mod common;

use common::{logstore, run, Scratch};

/// Bytes on disk reported by `stat --json`.
fn disk_bytes(dir: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(run(&["stat", dir, "--json"]).ok()).unwrap();
    json["disk_bytes"].as_u64().unwrap()
}

#[test]
fn tour_runs_twice_on_the_same_directory() {
    let s = Scratch::new();
    let first = run(&["tour", s.dir()]);
    let text = first.ok();
    for step in ["open", "append", "stat", "truncate", "replay", "reopen"] {
        assert!(
            text.lines().any(|l| l.starts_with(step)),
            "no {step} step in:\n{text}"
        );
    }
    assert!(text.contains("a new, empty log"), "{text}");
    assert!(text.contains("given back to the file system"), "{text}");
    let disk_after_first = disk_bytes(s.dir());

    let second = run(&["tour", s.dir()]);
    let text = second.ok();
    assert!(text.contains("the log an earlier run left"), "{text}");
    assert!(text.contains("appends continue at 1004"), "{text}");
    // The truncation drops what the first run left: no growth.
    assert!(disk_bytes(s.dir()) < disk_after_first + (1 << 20));
    run(&["verify", s.dir()]).ok();
}

#[test]
fn tour_defaults_to_logstore_data_in_the_current_directory() {
    let s = Scratch::new();
    let out = logstore()
        .arg("tour")
        .current_dir(s.tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(s.tmp.path().join("logstore-data").is_dir());
}

#[test]
fn bench_quick_prints_throughput_and_latency_and_cleans_up() {
    let s = Scratch::new();
    std::fs::create_dir(&s.log).unwrap();
    let out = run(&["bench", s.dir(), "--quick"]);
    let text = out.ok();
    for needle in [
        "records/s",
        "p50",
        "p99",
        "100 B, 1 thread, durable",
        "1 MiB, 4 threads, not synced",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    assert_eq!(
        text.lines().filter(|l| l.contains(" thread")).count(),
        8,
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&s.log).unwrap().count(),
        0,
        "bench left files behind"
    );
}
