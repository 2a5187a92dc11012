//! The `sidx` box (ISO BMFF segment index) of a DASH `SegmentBase`
//! representation: where each subsegment's bytes are and when it plays.

use super::ManifestError;
use super::Segment;
use super::dash::{IndexRef, dedup_ids, segment};

/// The segments a `sidx` box lists: `data` holds the bytes of the index
/// range of `index`; the media follows the box (first_offset after it).
///
/// # Errors
/// [`ManifestError::BadIndex`] when `data` is not a `sidx` box.
#[expect(clippy::cast_precision_loss, reason = "media times fit in 2^53")]
pub fn segments_from_sidx(data: &[u8], index: &IndexRef) -> Result<Vec<Segment>, ManifestError> {
    let bad = |m: &str| ManifestError::BadIndex(m.to_owned());
    let mut r = Reader { data, pos: 0 };
    // Skip boxes until the sidx.
    let (box_start, box_size) = loop {
        let start = r.pos;
        let size = r.u32()?;
        let kind = r.take(4)?;
        if kind == b"sidx" {
            break (start as u64, u64::from(size));
        }
        let skip = usize::try_from(size)
            .map_err(|_| bad("box size"))?
            .checked_sub(8)
            .ok_or_else(|| bad("box size"))?;
        r.take(skip)?;
    };
    let version = r.take(1)?.first().copied().unwrap_or(0);
    r.take(3)?; // flags
    r.u32()?; // reference id
    let timescale = f64::from(r.u32()?.max(1));
    let (earliest, first_offset) = if version == 0 {
        (u64::from(r.u32()?), u64::from(r.u32()?))
    } else {
        (r.u64()?, r.u64()?)
    };
    r.take(2)?; // reserved
    let count = r.u16()?;
    let mut offset = index.range.start + box_start + box_size + first_offset;
    let mut time = earliest;
    let mut out = Vec::new();
    for _ in 0..count {
        let reference = r.u32()?;
        let duration = r.u32()?;
        r.u32()?; // SAP
        if reference & 0x8000_0000 != 0 {
            return Err(bad("hierarchical sidx is not supported"));
        }
        let size = u64::from(reference & 0x7fff_ffff);
        let start = index.period_start + time as f64 / timescale;
        let end = start + f64::from(duration) / timescale;
        out.push(segment(
            index.url.clone(),
            Some(offset..offset + size),
            start,
            end,
        ));
        offset += size;
        time += u64::from(duration);
    }
    dedup_ids(&mut out);
    Ok(out)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ManifestError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let slice = end.and_then(|e| self.data.get(self.pos..e));
        let slice = slice.ok_or_else(|| ManifestError::BadIndex("truncated".into()))?;
        self.pos += n;
        Ok(slice)
    }
    fn u16(&mut self) -> Result<u16, ManifestError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }
    fn u32(&mut self) -> Result<u32, ManifestError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| ManifestError::BadIndex("truncated".into()))?;
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, ManifestError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| ManifestError::BadIndex("truncated".into()))?;
        Ok(u64::from_be_bytes(b))
    }
}
