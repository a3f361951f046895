//! The build's feature cache (`OUT/cache/features.bin`): an append-only log of checksummed
//! records, repaired when it is opened.
//!
//! File: the 8-byte magic `HRFEAT2\n`, then records. A record is `HRFR`, the payload length (u32
//! LE), the CRC-32 of the payload (u32 LE) and the payload: key length (u32), key (UTF-8), source
//! width and height (u32 each), feature count (u32), the features (f32 LE). A later record for the
//! same key wins.
//!
//! On open, a record that is cut short at the end of the file (an interrupted write) is truncated
//! away; a damaged record elsewhere (bad checksum, impossible length, non-finite features) is
//! dropped and the reader resynchronises on the next record that checks out, and the file is then
//! rewritten without it. Whatever was lost is counted in [`Repair`] and computed again by the
//! build. Appends are followed by `sync_data`, so a record that was reported written survives a
//! crash of the machine, not only of the process.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File magic of this format.
pub const MAGIC: &[u8; 8] = b"HRFEAT2\n";
/// The first format (no checksums, no model in the key); read as "old format" and rebuilt.
pub const MAGIC_V1: &[u8; 8] = b"HRFEAT1\n";
const RECORD: &[u8; 4] = b"HRFR";
const HEADER: usize = 12;
/// Longest key accepted (a relative path plus size, mtime and the model tag).
pub const MAX_KEY: usize = 1 << 16;
/// Largest feature vector accepted in a record.
pub const MAX_FEATURES: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read the feature cache {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the feature cache {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("feature cache {path}: a record of {got} features, expected {want}")]
    Length { path: String, got: usize, want: usize },
    #[error("feature cache {path}: key of {len} bytes is longer than the {MAX_KEY} allowed")]
    Key { path: String, len: usize },
}

/// A cached result: the source image size and its feature vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub size: [u32; 2],
    pub feat: Vec<f32>,
}

/// What opening the cache found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repair {
    /// Good records read (a key written twice counts twice).
    pub records: usize,
    /// Damaged records dropped (their works are computed again).
    pub damaged: usize,
    /// Bytes cut from the end: a record whose write was interrupted.
    pub torn_bytes: u64,
    /// The file was not a cache of this format (an older format or something else) and was
    /// started afresh; the reason.
    pub replaced: Option<String>,
}

impl Repair {
    /// Whether anything had to be repaired.
    pub fn repaired(&self) -> bool {
        self.damaged > 0 || self.torn_bytes > 0 || self.replaced.is_some()
    }

    /// One line for the build report.
    pub fn describe(&self) -> String {
        let mut s = format!("feature cache: {} records read", self.records);
        if let Some(r) = &self.replaced {
            s.push_str(&format!("; started afresh ({r})"));
        }
        if self.damaged > 0 {
            s.push_str(&format!("; {} damaged records dropped and recomputed", self.damaged));
        }
        if self.torn_bytes > 0 {
            s.push_str(&format!("; an interrupted record ({} bytes) cut from the end and recomputed", self.torn_bytes));
        }
        if !self.repaired() {
            s.push_str(", intact");
        }
        s
    }
}

/// The open cache: its entries in memory and the file, positioned for appends.
pub struct FeatureCache {
    path: PathBuf,
    file: File,
    entries: HashMap<String, Entry>,
    features: usize,
    /// What opening it found.
    pub repair: Repair,
}

fn rd_u32(b: &[u8], p: usize) -> Option<u32> {
    b.get(p..p.checked_add(4)?).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// One record at `p`: `Ok((key, entry, end))`, or `Err(true)` when it runs past the end of the
/// buffer (possibly torn), `Err(false)` when it is damaged.
fn parse_record(b: &[u8], p: usize, features: usize) -> Result<(String, Entry, usize), bool> {
    if b.len() - p < HEADER {
        return Err(true);
    }
    if &b[p..p + 4] != RECORD {
        return Err(false);
    }
    let len = rd_u32(b, p + 4).ok_or(true)? as usize;
    let crc = rd_u32(b, p + 8).ok_or(true)?;
    if len > MAX_KEY + 16 + MAX_FEATURES * 4 {
        return Err(false);
    }
    let start = p + HEADER;
    let end = start + len;
    if end > b.len() {
        return Err(true);
    }
    let payload = &b[start..end];
    if crc32fast::hash(payload) != crc {
        return Err(false);
    }
    let klen = rd_u32(payload, 0).ok_or(false)? as usize;
    if klen > MAX_KEY || 4 + klen + 12 > payload.len() {
        return Err(false);
    }
    let key = std::str::from_utf8(&payload[4..4 + klen]).map_err(|_| false)?.to_string();
    let q = 4 + klen;
    let w = rd_u32(payload, q).ok_or(false)?;
    let h = rd_u32(payload, q + 4).ok_or(false)?;
    let n = rd_u32(payload, q + 8).ok_or(false)? as usize;
    if n != features || payload.len() != q + 12 + n * 4 {
        return Err(false);
    }
    let feat: Vec<f32> =
        payload[q + 12..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if !feat.iter().all(|v| v.is_finite()) {
        return Err(false);
    }
    Ok((key, Entry { size: [w, h], feat }, end))
}

/// Encodes one record.
pub fn encode_record(key: &str, size: [u32; 2], feat: &[f32]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(16 + key.len() + feat.len() * 4);
    payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
    payload.extend_from_slice(key.as_bytes());
    payload.extend_from_slice(&size[0].to_le_bytes());
    payload.extend_from_slice(&size[1].to_le_bytes());
    payload.extend_from_slice(&(feat.len() as u32).to_le_bytes());
    for v in feat {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    let mut rec = Vec::with_capacity(HEADER + payload.len());
    rec.extend_from_slice(RECORD);
    rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    rec.extend_from_slice(&payload);
    rec
}

/// Scans a cache file's bytes: the good records in file order, and what was wrong. Never panics,
/// whatever the bytes.
pub fn scan(b: &[u8], features: usize) -> (Vec<(String, Entry)>, Repair, usize) {
    let mut repair = Repair::default();
    let mut out = Vec::new();
    if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
        repair.replaced = Some(if b.starts_with(MAGIC_V1) {
            "an older format without checksums".into()
        } else if b.is_empty() {
            return (out, repair, 0);
        } else {
            "not a headroom feature cache".into()
        });
        return (out, repair, 0);
    }
    let mut p = MAGIC.len();
    // Where the good data ends (everything after is cut).
    let mut good_end = p;
    while p < b.len() {
        match parse_record(b, p, features) {
            Ok((key, entry, end)) => {
                out.push((key, entry));
                repair.records += 1;
                p = end;
                good_end = end;
            }
            Err(torn) => {
                // Resynchronise on the next record that checks out.
                let next = (p + 1..b.len().saturating_sub(HEADER - 1))
                    .find(|&q| &b[q..q + 4] == RECORD && parse_record(b, q, features).is_ok());
                match next {
                    Some(q) => {
                        repair.damaged += 1;
                        p = q;
                    }
                    None => {
                        // Nothing good follows: the rest is cut. A complete record with a bad
                        // checksum is damage; an incomplete one at the end an interrupted write.
                        if torn {
                            repair.torn_bytes = (b.len() - good_end) as u64;
                        } else {
                            repair.damaged += 1;
                        }
                        break;
                    }
                }
            }
        }
    }
    (out, repair, good_end)
}

impl FeatureCache {
    /// Opens (or creates) the cache at `path` for vectors of `features` floats, repairing it.
    pub fn open(path: &Path, features: usize) -> Result<Self, CacheError> {
        let name = path.display().to_string();
        let read_err = |source| CacheError::Read { path: name.clone(), source };
        let write_err = |source| CacheError::Write { path: name.clone(), source };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_err(e)),
        };
        let (records, repair, good_end) = scan(&bytes, features);
        let mut entries = HashMap::new();
        for (k, e) in &records {
            entries.insert(k.clone(), e.clone());
        }
        if bytes.is_empty() || repair.replaced.is_some() || repair.damaged > 0 {
            // Rewrite: the magic and the good records, through a synced temporary file.
            let mut data = MAGIC.to_vec();
            for (k, e) in &records {
                data.extend_from_slice(&encode_record(k, e.size, &e.feat));
            }
            crate::fsio::write_atomic(path, &data).map_err(write_err)?;
        } else if repair.torn_bytes > 0 {
            let f = OpenOptions::new().write(true).open(path).map_err(write_err)?;
            f.set_len(good_end as u64).map_err(write_err)?;
            f.sync_all().map_err(write_err)?;
        }
        let file = OpenOptions::new().append(true).open(path).map_err(write_err)?;
        Ok(Self { path: path.to_path_buf(), file, entries, features, repair })
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends records in one write and syncs them to disk before returning.
    pub fn append(&mut self, records: Vec<(String, Entry)>) -> Result<(), CacheError> {
        let name = || self.path.display().to_string();
        let mut buf = Vec::new();
        for (k, e) in &records {
            if e.feat.len() != self.features {
                return Err(CacheError::Length { path: name(), got: e.feat.len(), want: self.features });
            }
            if k.len() > MAX_KEY {
                return Err(CacheError::Key { path: name(), len: k.len() });
            }
            buf.extend_from_slice(&encode_record(k, e.size, &e.feat));
        }
        self.file.write_all(&buf).map_err(|source| CacheError::Write { path: name(), source })?;
        self.file.sync_data().map_err(|source| CacheError::Write { path: name(), source })?;
        for (k, e) in records {
            self.entries.insert(k, e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: usize = 8;

    fn entry(i: u32) -> Entry {
        Entry { size: [10 + i, 20 + i], feat: (0..F).map(|k| (i * 100 + k as u32) as f32 * 0.5).collect() }
    }

    fn file_with(n: u32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        for i in 0..n {
            b.extend_from_slice(&encode_record(&format!("k{i}"), entry(i).size, &entry(i).feat));
        }
        b
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hr-cache-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join("features.bin")
    }

    #[test]
    fn records_round_trip_and_appends_survive_a_reopen() {
        let path = tmp("roundtrip");
        std::fs::remove_file(&path).ok();
        let mut c = FeatureCache::open(&path, F).unwrap();
        assert!(c.is_empty() && !c.repair.repaired());
        c.append((0..3).map(|i| (format!("k{i}"), entry(i))).collect()).unwrap();
        drop(c);
        let c = FeatureCache::open(&path, F).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("k2"), Some(&entry(2)));
        assert_eq!(c.repair, Repair { records: 3, ..Default::default() });
        assert_eq!(std::fs::read(&path).unwrap(), file_with(3));
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_next_append_lands_after_the_last_good_record() {
        let path = tmp("torn");
        let full = file_with(3);
        let rec = (full.len() - MAGIC.len()) / 3;
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let mut c = FeatureCache::open(&path, F).unwrap();
        assert_eq!((c.len(), c.repair.damaged, c.repair.torn_bytes), (2, 0, (rec - 10) as u64));
        assert!(c.repair.describe().contains("interrupted"), "{}", c.repair.describe());
        c.append(vec![("k2".into(), entry(2))]).unwrap();
        drop(c);
        // Exactly the file an uninterrupted writer would have left.
        assert_eq!(std::fs::read(&path).unwrap(), full);
        let c = FeatureCache::open(&path, F).unwrap();
        assert!(!c.repair.repaired(), "{:?}", c.repair);
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn a_damaged_record_is_dropped_the_others_kept_and_the_file_rewritten_clean() {
        let path = tmp("damaged");
        let full = file_with(4);
        let rec = (full.len() - MAGIC.len()) / 4;
        for (what, at) in [("feature bits", MAGIC.len() + rec + HEADER + 30), ("length field", MAGIC.len() + rec + 5)] {
            let mut b = full.clone();
            b[at] ^= 0x5a;
            std::fs::write(&path, &b).unwrap();
            let c = FeatureCache::open(&path, F).unwrap();
            assert_eq!((c.len(), c.repair.damaged, c.repair.torn_bytes), (3, 1, 0), "{what}");
            assert!(c.get("k1").is_none() && c.get("k3") == Some(&entry(3)), "{what}");
            drop(c);
            let c = FeatureCache::open(&path, F).unwrap();
            assert!(!c.repair.repaired(), "{what}: {:?}", c.repair);
            assert_eq!(c.len(), 3);
        }
        // The last record damaged (complete, bad checksum): dropped, counted as damage.
        let mut b = full.clone();
        let last = b.len() - 3;
        b[last] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let c = FeatureCache::open(&path, F).unwrap();
        assert_eq!((c.len(), c.repair.damaged), (3, 1));
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn an_old_or_foreign_file_is_started_afresh() {
        let path = tmp("old");
        for bytes in [&b"HRFEAT1\nxxxxxxxxxxxxxxxxxxxxxx"[..], b"GIF89a", b"H"] {
            std::fs::write(&path, bytes).unwrap();
            let c = FeatureCache::open(&path, F).unwrap();
            assert!(c.is_empty() && c.repair.replaced.is_some());
            drop(c);
            assert_eq!(std::fs::read(&path).unwrap(), MAGIC);
        }
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn any_cut_or_flipped_byte_is_repaired_without_panic_or_poisoned_values() {
        let full = file_with(5);
        for cut in 0..full.len() {
            let (recs, _, _) = scan(&full[..cut], F);
            for (k, e) in &recs {
                let i: u32 = k[1..].parse().unwrap();
                assert_eq!(*e, entry(i));
            }
        }
        for at in 0..full.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = full.clone();
                b[at] ^= bit;
                let (recs, rep, _) = scan(&b, F);
                assert!(recs.len() >= 4 || at < MAGIC.len(), "byte {at}: {} records, {rep:?}", recs.len());
                for (k, e) in &recs {
                    let i: u32 = k[1..].parse().unwrap();
                    assert_eq!(*e, entry(i), "byte {at}");
                }
            }
        }
    }
}
