//! A short tour: append from several threads, truncate, replay, reopen,
//! and show the disk space given back. Runs on `./logstore-data`, or on the
//! directory given as the first argument.

use std::sync::Arc;

use logstore::{Log, Options, SyncPolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "logstore-data".into());
    let opts = Options::default()
        .sync_policy(SyncPolicy::Always)
        .segment_size(8 << 20);
    let log = Arc::new(Log::open(&dir, opts.clone())?);
    println!(
        "opened {dir}: positions {}..{}",
        log.first_position(),
        log.next_position()
    );

    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || -> logstore::Result<()> {
                for i in 0..250 {
                    log.append(format!("thread {t} record {i}").as_bytes())?;
                }
                log.append(&vec![t as u8; 3 << 20])?;
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender panicked")?;
    }
    let before = log.stats()?;
    println!(
        "appended: positions {}..{}, {} MiB retained, {} MiB on disk, {} segments",
        before.first_position,
        before.next_position,
        before.retained_bytes >> 20,
        before.disk_bytes >> 20,
        before.segments.len()
    );

    let cut = before.first_position + before.records / 2;
    log.truncate_front(cut)?;
    log.wait_reclaimed();
    let after = log.stats()?;
    println!(
        "truncate_front({cut}): {} MiB on disk -> {} MiB",
        before.disk_bytes >> 20,
        after.disk_bytes >> 20
    );

    let mut records = 0;
    let mut bytes = 0;
    log.replay(cut, |_, r| {
        records += 1;
        bytes += r.len();
        true
    })?;
    println!("replayed {records} records ({bytes} bytes) from {cut}");
    log.close()?;
    drop(log);

    let log = Log::open(&dir, opts)?;
    println!(
        "reopened: positions {}..{}, record {cut} is {} bytes",
        log.first_position(),
        log.next_position(),
        log.read(cut)?.len()
    );
    Ok(())
}
