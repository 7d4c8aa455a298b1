use super::*;

fn write(fs: &SimFs, path: &str, bytes: &[u8]) -> Arc<dyn FsFile> {
    let f = fs.open(Path::new(path), OpenMode::CreateNew).unwrap();
    f.write_all_at(&[IoSlice::new(bytes)], 0).unwrap();
    f
}

#[test]
fn a_durable_image_holds_only_what_was_synced() {
    let fs = SimFs::new();
    let synced = write(&fs, "/a", b"synced");
    synced.sync_data().unwrap();
    fs.sync_dir(Path::new("/")).unwrap();
    synced
        .write_all_at(&[IoSlice::new(b" and more")], 6)
        .unwrap();
    write(&fs, "/b", b"entry not synced");
    let image = fs.durable_image();
    assert_eq!(image.file_contents("/a").unwrap(), b"synced");
    assert_eq!(image.file_contents("/b"), None);
    // The original goes on, untouched.
    assert_eq!(fs.file_contents("/a").unwrap(), b"synced and more");
    assert!(fs.file_contents("/b").is_some());
    // The image is a file system of its own.
    let f = image.open(Path::new("/a"), OpenMode::ReadWrite).unwrap();
    f.write_all_at(&[IoSlice::new(b"S")], 0).unwrap();
    assert_eq!(fs.file_contents("/a").unwrap(), b"synced and more");
}

#[test]
fn a_power_cut_during_a_slow_sync_fails_it() {
    // The sleeps are random: try until a sync is cut in its sleep.
    let mut cut_in_sleep = 0;
    for seed in 0..20 {
        let fs = SimFs::new();
        fs.set_delays(seed, 100, Duration::from_millis(40), Duration::ZERO);
        let f = write(&fs, "/a", b"data");
        fs.sync_dir(Path::new("/")).unwrap();
        let syncing = std::thread::spawn(move || f.sync_data());
        std::thread::sleep(Duration::from_millis(20));
        fs.cut_power_now();
        let result = syncing.join().unwrap();
        fs.restart(CrashMode::DropUnsynced);
        let kept = fs.file_contents("/a").unwrap();
        match result {
            Ok(()) => assert_eq!(kept, b"data"),
            Err(_) => {
                assert_eq!(kept, b"");
                cut_in_sleep += 1;
            }
        }
    }
    assert!(cut_in_sleep > 0);
}

#[test]
fn a_cut_not_reached_can_be_called_off() {
    let fs = SimFs::new();
    fs.cut_power_after(2);
    let f = write(&fs, "/a", b"x");
    assert!(fs.cancel_power_cut());
    for _ in 0..10 {
        f.sync_data().unwrap();
    }
}
