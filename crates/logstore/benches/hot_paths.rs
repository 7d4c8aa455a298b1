//! Micro-benchmarks of logstore's hot paths through the public API: small
//! appends (framing + CRC + buffering, and write-through), read by
//! position, replay.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logstore::{Log, Options, SyncPolicy};
use logstore_testkit::Xorshift;

const RECORDS: u64 = 100_000;

fn options(write_buffer: usize) -> Options {
    Options::default()
        .sync_policy(SyncPolicy::Never)
        .write_buffer(write_buffer)
}

/// A log of `RECORDS` records of `size` bytes in a fresh temp dir.
fn filled(size: usize) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path(), options(256 << 10)).expect("open");
    let record = vec![7u8; size];
    for _ in 0..RECORDS {
        log.append(&record).expect("append");
    }
    log.flush().expect("flush");
    (dir, log)
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    for (name, size, buffer) in [
        ("100B_buffered", 100, 256 << 10),
        ("4KiB_buffered", 4096, 256 << 10),
        ("100B_write_through", 100, 0),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = Log::open(dir.path(), options(buffer)).expect("open");
        let record = vec![7u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(name, |b| {
            b.iter(|| log.append(black_box(&record)).expect("append"))
        });
        log.close().expect("close");
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    let (_dir, log) = filled(100);
    let mut positions = Xorshift::new(0x2545_F491_4F6C_DD1D);
    c.bench_function("read_100B_random_position", |b| {
        b.iter(|| black_box(log.read(positions.next_u64() % RECORDS).expect("read")))
    });
}

fn replay(c: &mut Criterion) {
    let (_dir, log) = filled(100);
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(20);
    g.bench_function("100k_records_of_100B", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            log.replay(0, |_, r| {
                bytes += r.len();
                true
            })
            .expect("replay");
            black_box(bytes)
        })
    });
    g.finish();
}

criterion_group!(benches, append, read, replay);
criterion_main!(benches);
