//! Numbers for people: byte sizes and rates.

/// `1536` -> `"1.5 KiB"`; exact below 1 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A range of positions as `first..next`, or `empty (next N)`.
pub fn positions(first: u64, next: u64) -> String {
    if first == next {
        format!("none (next position {next})")
    } else {
        format!("{first}..{next}")
    }
}

/// `count(1, "record")` -> `"1 record"`, `count(2, "record")` -> `"2 records"`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(count(1, "segment"), "1 segment");
        assert_eq!(count(0, "record"), "0 records");
    }
}
