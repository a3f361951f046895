//! A walk over an MP4's box tree before the `mp4` crate reads it. That crate loops forever on a
//! box whose size is 0 or too small to hold its own header, and trusts sizes that run past
//! their parent; here every such box is refused with its offset, so no file can hang the app.

use std::io::{Read, Seek, SeekFrom};

/// Why an MP4 is refused before it is demuxed.
#[derive(Debug, thiserror::Error)]
pub enum Mp4Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A box the demuxer could not follow safely: what, and at which byte.
    #[error("{0}")]
    Malformed(String),
}

/// Boxes whose payload is a list of boxes (after `skip` bytes of their own fields).
fn children_at(kind: &[u8; 4]) -> Option<u64> {
    Some(match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"dinf" | b"edts" | b"udta" | b"mvex" | b"moof" | b"traf"
        | b"ilst" => 0,
        b"meta" => 4,
        b"stsd" => 8,
        // Visual sample entries: 78 bytes of fields, then avcC and friends.
        b"avc1" | b"avc3" | b"hev1" | b"hvc1" | b"vp09" | b"av01" => 78,
        // Audio sample entries: 28 bytes of fields.
        b"mp4a" => 28,
        _ => return None,
    })
}

/// Most nesting accepted (real files use about eight levels).
const MAX_DEPTH: usize = 16;
/// Largest `moov` read into memory to check it.
const MAX_MOOV: u64 = 256 << 20;

fn header(buf: &[u8], at: usize, end: usize) -> Result<(u64, [u8; 4], u64), Mp4Error> {
    if end - at < 8 {
        return Err(Mp4Error::Malformed(format!("a box header at byte {at} is cut off")));
    }
    let size32 = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
    let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
    let (size, head) = match size32 {
        1 => {
            if end - at < 16 {
                return Err(Mp4Error::Malformed(format!("the 64-bit size of the box at byte {at} is cut off")));
            }
            (u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap()), 16)
        }
        // "Runs to the end of the file": the demuxer cannot follow it (it would read the box
        // again and again), so it is refused like any size too small for a header.
        0 => (0, 8),
        n => (u64::from(n), 8),
    };
    Ok((size, kind, head))
}

fn walk(buf: &[u8], start: usize, end: usize, depth: usize, base: u64, in_ilst: bool) -> Result<(), Mp4Error> {
    if depth > MAX_DEPTH {
        return Err(Mp4Error::Malformed(format!(
            "boxes nested more than {MAX_DEPTH} deep at byte {}",
            base + start as u64
        )));
    }
    let mut at = start;
    while at < end {
        let (size, kind, head) = header(buf, at, end)?;
        let name = String::from_utf8_lossy(&kind).into_owned();
        let offset = base + at as u64;
        if size < head || size > (end - at) as u64 {
            return Err(Mp4Error::Malformed(format!(
                "box '{name}' at byte {offset} claims {size} bytes; {} are left in its parent",
                end - at
            )));
        }
        let box_end = at + size as usize;
        // iTunes metadata items (under `ilst`) hold `data` boxes, and the demuxer reads them.
        if let Some(skip) = children_at(&kind).or(in_ilst.then_some(0)) {
            let inner = at + head as usize + skip as usize;
            if inner > box_end {
                return Err(Mp4Error::Malformed(format!("box '{name}' at byte {offset} is too short for its fields")));
            }
            walk(buf, inner, box_end, depth + 1, base, &kind == b"ilst")?;
        }
        at = box_end;
    }
    Ok(())
}

/// Checks the top-level boxes of a file of `size` bytes, and the whole tree under `moov`.
pub fn check<R: Read + Seek>(reader: &mut R, size: u64) -> Result<(), Mp4Error> {
    let mut at = 0u64;
    let mut seen_moov = false;
    while at < size {
        let left = size - at;
        if left < 8 {
            return Err(Mp4Error::Malformed(format!("{left} stray bytes at the end of the file (byte {at})")));
        }
        reader.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 16];
        let n = (left.min(16)) as usize;
        reader.read_exact(&mut head[..n])?;
        let (box_size, kind, head_len) = header(&head[..n], 0, n)?;
        let name = String::from_utf8_lossy(&kind).into_owned();
        if box_size < head_len || box_size > left {
            return Err(Mp4Error::Malformed(format!(
                "box '{name}' at byte {at} claims {box_size} bytes; the file has {left} left"
            )));
        }
        if &kind == b"moov" {
            if box_size > MAX_MOOV {
                return Err(Mp4Error::Malformed(format!(
                    "the 'moov' box is {box_size} bytes, more than {MAX_MOOV} accepted"
                )));
            }
            let mut buf = vec![0u8; box_size as usize];
            reader.seek(SeekFrom::Start(at))?;
            reader.read_exact(&mut buf)?;
            walk(&buf, head_len as usize, buf.len(), 1, at, false)?;
            seen_moov = true;
        }
        at += box_size;
    }
    reader.seek(SeekFrom::Start(0))?;
    if !seen_moov {
        return Err(Mp4Error::Malformed("no 'moov' box (not an MP4 file, or its index is missing)".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn the_demo_clip_passes() {
        let mut r = Cursor::new(crate::DEMO_CLIP);
        check(&mut r, crate::DEMO_CLIP.len() as u64).unwrap();
    }

    #[test]
    fn sizes_that_cannot_be_are_refused() {
        let mvhd_zero = {
            let mut inner = 0u32.to_be_bytes().to_vec();
            inner.extend_from_slice(b"mvhd");
            inner.extend_from_slice(&[0; 8]);
            boxed(b"moov", &inner)
        };
        let mut file = boxed(b"ftyp", b"isom\0\0\0\0");
        file.extend(mvhd_zero);
        let e = check(&mut Cursor::new(&file), file.len() as u64).unwrap_err();
        assert!(matches!(e, Mp4Error::Malformed(_)), "{e}");
        let e = e.to_string();
        assert!(e.contains("'mvhd'") && e.contains("claims 0 bytes"), "{e}");
        let mut tiny = file.clone();
        let at = tiny.windows(4).position(|w| w == b"mvhd").unwrap() - 4;
        tiny[at..at + 4].copy_from_slice(&4u32.to_be_bytes());
        let e = check(&mut Cursor::new(&tiny), tiny.len() as u64).unwrap_err().to_string();
        assert!(e.contains("'mvhd'") && e.contains("claims 4 bytes"), "{e}");
        let mut long = file.clone();
        long[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
        let e = check(&mut Cursor::new(&long), long.len() as u64).unwrap_err().to_string();
        assert!(e.contains("claims 1000 bytes"), "{e}");
        let no_moov = boxed(b"ftyp", b"isom\0\0\0\0");
        assert!(check(&mut Cursor::new(&no_moov), no_moov.len() as u64).unwrap_err().to_string().contains("no 'moov'"));
    }
}
