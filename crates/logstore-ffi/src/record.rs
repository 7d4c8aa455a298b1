//! Records handed to C: owned buffers freed by logstore_record_free().

/// A record returned by logstore_read() or logstore_iter_next(). `data`
/// points to `len` bytes owned by the caller once returned; release them
/// with logstore_record_free(), never with free().
#[repr(C)]
#[derive(Debug)]
pub struct logstore_record {
    /// The record's position.
    pub position: u64,
    /// The record's bytes, or NULL for no record.
    pub data: *mut u8,
    /// How many bytes.
    pub len: usize,
}

impl logstore_record {
    pub(crate) const EMPTY: logstore_record = logstore_record {
        position: 0,
        data: std::ptr::null_mut(),
        len: 0,
    };
}

/// A record on the Rust side, before its buffer is handed to C.
pub(crate) struct Record {
    pub(crate) position: u64,
    pub(crate) data: Vec<u8>,
}

impl Record {
    /// Moves the bytes into a buffer that logstore_record_free() releases.
    pub(crate) fn into_c(self) -> logstore_record {
        let boxed: Box<[u8]> = self.data.into_boxed_slice();
        let len = boxed.len();
        logstore_record {
            position: self.position,
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// Releases the bytes of a record filled by logstore_read() or
/// logstore_iter_next() and sets its `data` to NULL and `len` to 0, so
/// freeing it twice is harmless. NULL, and a record with NULL `data`, are
/// ignored.
///
/// # Safety
/// `record` is NULL or points to a record whose `data` is NULL or was
/// filled by logstore and not modified since.
#[no_mangle]
pub unsafe extern "C" fn logstore_record_free(record: *mut logstore_record) {
    // SAFETY: the caller promises NULL or a valid record.
    let Some(record) = (unsafe { record.as_mut() }) else {
        return;
    };
    if !record.data.is_null() {
        let slice = std::ptr::slice_from_raw_parts_mut(record.data, record.len);
        // SAFETY: `data` and `len` came from `Record::into_c`, which leaked
        // a `Box<[u8]>` of exactly this length.
        drop(unsafe { Box::from_raw(slice) });
    }
    record.data = std::ptr::null_mut();
    record.len = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_trip_and_is_freed_once() {
        let mut rec = Record {
            position: 9,
            data: b"abc".to_vec(),
        }
        .into_c();
        assert_eq!(rec.position, 9);
        // SAFETY: `into_c` produced `len` readable bytes.
        assert_eq!(
            unsafe { std::slice::from_raw_parts(rec.data, rec.len) },
            b"abc"
        );
        // SAFETY: `rec` was filled by `into_c`.
        unsafe { logstore_record_free(&mut rec) };
        assert!(rec.data.is_null());
        assert_eq!(rec.len, 0);
        // SAFETY: freeing an emptied record is documented as harmless.
        unsafe { logstore_record_free(&mut rec) };
        // SAFETY: NULL is ignored.
        unsafe { logstore_record_free(std::ptr::null_mut()) };
    }
}
