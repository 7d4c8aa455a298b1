//! The file system calls of [`SimFs`], and its files and locks.

use super::*;

pub(super) fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let parent = path.parent().ok_or_else(|| not_found(path))?;
    let name = path.file_name().ok_or_else(|| not_found(path))?;
    Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
}

pub(super) fn lookup(st: &State, path: &Path) -> io::Result<u64> {
    let (dir, name) = split(path)?;
    st.dirs
        .get(&dir)
        .and_then(|d| d.entries.get(&name))
        .copied()
        .ok_or_else(|| not_found(path))
}

pub(super) fn create_entry(st: &mut State, path: &Path, exclusive: bool) -> io::Result<u64> {
    let (dir, name) = split(path)?;
    if let Some(&id) = st.dirs.get(&dir).and_then(|d| d.entries.get(&name)) {
        if exclusive {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: file exists", path.display()),
            ));
        }
        return Ok(id);
    }
    let id = st.next_id;
    st.next_id += 1;
    st.files.insert(id, FileData::default());
    st.dirs
        .get_mut(&dir)
        .ok_or_else(|| not_found(&dir))?
        .entries
        .insert(name, id);
    Ok(id)
}

impl Fs for SimFs {
    fn create_dir_all(&self, path: &Path, _mode: u32) -> io::Result<()> {
        let mut st = self.lock();
        if st.powered_off {
            return Err(powered_off());
        }
        // Directories themselves are always durable in the simulation.
        for dir in path.ancestors() {
            st.dirs.entry(dir.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.lock().dirs.contains_key(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        self.hook(Op::Open, path);
        let mut st = self.lock();
        let generation = st.generation;
        self.enter(&mut st, Op::Open, generation)?;
        let id = match mode {
            OpenMode::CreateNew => {
                // Creating a file is a mutation: it counts towards a power
                // cut like a write does.
                if let Some(limit) = st.power_cut_after {
                    if st.mutations >= limit {
                        st.powered_off = true;
                        return Err(powered_off());
                    }
                }
                let id = create_entry(&mut st, path, true)?;
                st.mutations += 1;
                id
            }
            OpenMode::Read | OpenMode::ReadWrite => lookup(&st, path)?,
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            id,
            generation,
            writable: mode != OpenMode::Read,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.hook(Op::Remove, path);
        let mut st = self.lock();
        let generation = st.generation;
        self.enter(&mut st, Op::Remove, generation)?;
        let (dir, name) = split(path)?;
        st.dirs
            .get_mut(&dir)
            .and_then(|d| d.entries.remove(&name))
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.hook(Op::Rename, from);
        let mut st = self.lock();
        let generation = st.generation;
        self.enter(&mut st, Op::Rename, generation)?;
        let id = lookup(&st, from)?;
        let (fdir, fname) = split(from)?;
        let (tdir, tname) = split(to)?;
        if !st.dirs.contains_key(&tdir) {
            return Err(not_found(&tdir));
        }
        st.dirs
            .get_mut(&fdir)
            .expect("looked up")
            .entries
            .remove(&fname);
        st.dirs
            .get_mut(&tdir)
            .expect("checked")
            .entries
            .insert(tname, id);
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<DirListing> {
        let st = self.lock();
        if st.powered_off {
            return Err(powered_off());
        }
        let dir = st.dirs.get(path).ok_or_else(|| not_found(path))?;
        let mut listing = DirListing {
            files: dir.entries.keys().cloned().collect(),
            ..DirListing::default()
        };
        for sub in st.dirs.keys() {
            if sub.parent() == Some(path) {
                if let Some(name) = sub.file_name() {
                    listing.others.push(name.to_string_lossy().into_owned());
                }
            }
        }
        Ok(listing)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.hook(Op::SyncDir, path);
        self.delay(Op::SyncDir);
        let mut st = self.lock();
        let generation = st.generation;
        self.enter(&mut st, Op::SyncDir, generation)?;
        let dir = st.dirs.get_mut(path).ok_or_else(|| not_found(path))?;
        dir.durable = dir.entries.clone();
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn FsLock>>> {
        let mut st = self.lock();
        if st.powered_off {
            return Err(powered_off());
        }
        if !st.locks.insert(path.to_path_buf()) {
            return Ok(None);
        }
        let generation = st.generation;
        Ok(Some(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
            generation,
        })))
    }

    fn set_file_mode(&self, mode: u32) {
        self.lock().file_mode = mode;
    }
}

#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    path: PathBuf,
    generation: u64,
}

impl FsLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut st = self.fs.lock();
        if st.generation == self.generation {
            st.locks.remove(&self.path);
        }
    }
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    id: u64,
    generation: u64,
    writable: bool,
}

impl SimFile {
    fn with<R>(
        &self,
        op: Op,
        f: impl FnOnce(&mut FileData, bool) -> io::Result<R>,
    ) -> io::Result<R> {
        self.fs.file_hook(op, self.id);
        let mut st = self.fs.lock();
        let short = self.fs.enter(&mut st, op, self.generation)?;
        if op != Op::Read && !self.writable {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::BADF.raw_os_error(),
            ));
        }
        let file = st
            .files
            .get_mut(&self.id)
            .ok_or_else(|| io::Error::other("simulated file vanished"))?;
        f(file, short)
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(Op::Read, |file, _| {
            let len = file.data.len() as u64;
            if offset >= len {
                return Ok(0);
            }
            let n = (len - offset).min(buf.len() as u64) as usize;
            buf[..n].copy_from_slice(&file.data[offset as usize..offset as usize + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> io::Result<()> {
        self.fs.delay(Op::Write);
        self.with(Op::Write, |file, short| {
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            let limit = if short { total / 2 } else { total };
            let end = offset as usize + limit;
            if file.data.len() < end {
                file.data.resize(end, 0);
            }
            let mut at = offset as usize;
            let mut left = limit;
            for b in bufs {
                let n = b.len().min(left);
                file.data[at..at + n].copy_from_slice(&b[..n]);
                at += n;
                left -= n;
            }
            file.unsynced.push((offset, end as u64));
            file.rewritten(offset, end as u64);
            if short {
                return Err(errno(FaultError::NoSpace));
            }
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.delay(Op::Sync);
        self.fs.file_hook(Op::Sync, self.id);
        let mut st = self.fs.lock();
        let entered = self.fs.enter(&mut st, Op::Sync, self.generation);
        // (A sync the power cut fails loses nothing yet: the restart
        // settles what it was to write.)
        let powered = self.generation == st.generation && !st.powered_off;
        if !self.writable && entered.is_ok() {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::BADF.raw_os_error(),
            ));
        }
        let file = st
            .files
            .get_mut(&self.id)
            .ok_or_else(|| io::Error::other("simulated file vanished"))?;
        match entered {
            Ok(_) => {
                file.sync();
                Ok(())
            }
            // An injected failure loses the pages this sync was to write.
            Err(e) => {
                if powered {
                    file.lose_unsynced();
                }
                Err(e)
            }
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn uncache(&self) -> io::Result<()> {
        self.with(Op::Read, |file, _| {
            file.forget_lost();
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(Op::SetLen, |file, _| {
            let old = file.data.len() as u64;
            file.data.resize(len as usize, 0);
            if len > old {
                file.unsynced.push((old, len));
                file.rewritten(old, len);
            }
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with(Op::Read, |file, _| Ok(file.data.len() as u64))
    }

    fn allocated_bytes(&self) -> io::Result<u64> {
        self.with(Op::Read, |file, _| {
            let len = file.data.len() as u64;
            let holes: u64 = file
                .holes
                .iter()
                .map(|&(s, e)| e.min(len).saturating_sub(s))
                .sum();
            let rounded = len.div_ceil(SECTOR) * SECTOR;
            Ok(rounded.saturating_sub(holes))
        })
    }

    fn punch_hole(&self, offset: u64, len: u64) -> io::Result<bool> {
        self.with(Op::PunchHole, |file, _| {
            // Like ext4: only whole blocks are released; partial blocks at
            // either end are zeroed.
            let end = (offset + len).min(file.data.len() as u64);
            if offset >= end {
                return Ok(true);
            }
            for b in &mut file.data[offset as usize..end as usize] {
                *b = 0;
            }
            // Punching a hole is a metadata change the file system persists
            // at once on ext4 without a journal only with a later sync; keep
            // it in the unsynced set so a crash may undo it.
            file.unsynced.push((offset, end));
            file.rewritten(offset, end);
            let first_block = offset.div_ceil(SECTOR) * SECTOR;
            let last_block = end / SECTOR * SECTOR;
            if first_block < last_block {
                file.holes.push((first_block, last_block));
            }
            Ok(true)
        })
    }
}
