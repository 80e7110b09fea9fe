//! The byte toolkit of the storage formats: a little-endian reader over bytes from a file or a
//! log record that never trusts a length, and the matching writers.
//!
//! Every read checks the bytes that remain first, and every count read from the bytes is
//! checked against them ([`ByteReader::items`], [`ByteReader::count`]) before the caller
//! allocates anything for it, so damaged or hostile bytes give an error naming what was
//! read and where, never a panic or a huge allocation. The formats themselves (and what a
//! decoded value must satisfy) stay with the modules that own them: `codec.rs`,
//! `field_index.rs`, `payload_index.rs`, `segment.rs`.

/// A cursor over bytes that checks every read against what remains.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    /// How many bytes were read so far (the position of the next read).
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// `Ok` if `len` more bytes remain; the error names `what` needs them and where.
    pub(crate) fn need(&self, len: usize, what: &str) -> Result<(), String> {
        if self.remaining() < len {
            return Err(format!(
                "{what} at byte {} need {len} bytes, only {} remain",
                self.pos,
                self.remaining()
            ));
        }
        Ok(())
    }

    /// The next `len` bytes.
    pub(crate) fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], String> {
        self.need(len, what)?;
        let out = self
            .bytes
            .get(self.pos..self.pos + len)
            .ok_or_else(|| format!("{what} at byte {} is past the end", self.pos))?;
        self.pos += len;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// The next byte.
    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>("a byte")?[0])
    }

    /// The next little-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array("a u16")?))
    }

    /// The next little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array("a u32")?))
    }

    /// The next little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array("a u64")?))
    }

    /// The next little-endian `i64`.
    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array("an i64")?))
    }

    /// The next little-endian `f64`, any bit pattern (callers that need finite numbers check).
    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array("an f64")?))
    }

    /// `n`, if `n` items of `size` bytes each fit the bytes left: call it before allocating
    /// room for `n` items read from the bytes.
    pub(crate) fn items(&self, n: usize, size: usize, what: &str) -> Result<usize, String> {
        match n.checked_mul(size) {
            Some(bytes) if bytes <= self.remaining() => Ok(n),
            _ => Err(format!(
                "{n} {what} of {size} bytes at byte {}, but {} bytes remain",
                self.pos,
                self.remaining()
            )),
        }
    }

    /// A u64 count of items of at least `size` bytes each, which must fit the bytes left.
    pub(crate) fn count(&mut self, size: usize, what: &str) -> Result<usize, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| format!("too many {what}"))?;
        self.items(n, size, what)
    }
}

/// Append a little-endian `u32`.
pub(crate) fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// Append a little-endian `u64`.
pub(crate) fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// Append a count or length as a little-endian `u64` (`usize` never exceeds 64 bits on
/// supported targets).
pub(crate) fn put_len(out: &mut Vec<u8>, n: usize) {
    put_u64(out, n as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_round_trip_and_stop_at_the_end() {
        let mut out = Vec::new();
        out.push(7);
        out.extend_from_slice(&513u16.to_le_bytes());
        put_u32(&mut out, 0xDEAD_BEEF);
        put_u64(&mut out, u64::MAX - 1);
        out.extend_from_slice(&(-5i64).to_le_bytes());
        out.extend_from_slice(&1.5f64.to_le_bytes());
        put_len(&mut out, 3);
        let mut r = ByteReader::new(&out);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(513));
        assert_eq!(r.u32(), Ok(0xDEAD_BEEF));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.i64(), Ok(-5));
        assert_eq!(r.f64(), Ok(1.5));
        assert_eq!(r.position(), 1 + 2 + 4 + 8 + 8 + 8);
        // A count of 3 items of 1 byte does not fit the 0 bytes left after it.
        assert!(r.count(1, "items").is_err());
        assert_eq!(r.remaining(), 0);
        assert!(r.u8().unwrap_err().contains("need 1 bytes"));
        assert!(r.take(1, "x").is_err());
    }

    #[test]
    fn every_truncation_is_an_error_and_lengths_are_checked_before_use() {
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        for cut in 0..bytes.len() {
            let mut r = ByteReader::new(&bytes[..cut]);
            assert!(r.u64().is_ok() == (cut >= 8), "cut at {cut}");
        }
        let r = ByteReader::new(&bytes);
        assert_eq!(r.items(3, 3, "things"), Ok(3));
        assert!(r.items(3, 4, "things").is_err());
        assert!(r.items(usize::MAX, 2, "things").is_err());
        let mut huge = Vec::new();
        put_u64(&mut huge, u64::MAX);
        assert!(ByteReader::new(&huge).count(1, "items").is_err());
        let mut r = ByteReader::new(&bytes);
        assert_eq!(r.take(4, "head"), Ok(&bytes[..4]));
        assert!(r.take(6, "tail").unwrap_err().contains("tail at byte 4"));
        assert_eq!(r.take(5, "tail"), Ok(&bytes[4..]));
    }
}
