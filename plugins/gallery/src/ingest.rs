//! Ingest: find the images in a folder, join the optional metadata CSV, decode safely.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Image file extensions the build reads (case-insensitive).
pub const EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "gif", "tif", "tiff"];
/// Largest image accepted (pixels); bigger ones are skipped as "enormous".
pub const MAX_PIXELS: u64 = 100_000_000;

/// An image file found by the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Path relative to the collection folder, with `/` separators.
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 if unknown).
    pub mtime: i64,
}

impl Found {
    /// Cache key: a re-run reuses work whose path, size and mtime are unchanged.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.rel, self.size, self.mtime)
    }
}

/// Recursively lists image files (sorted by relative path). Unreadable entries are returned as
/// skipped with the reason.
pub fn scan(dir: &Path) -> std::io::Result<(Vec<Found>, Vec<Skipped>)> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let p = e.path().map(|p| p.display().to_string()).unwrap_or_default();
                skipped.push(Skipped { file: p, reason: format!("unreadable: {e}") });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        if !ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            continue;
        }
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let md = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                skipped.push(Skipped { file: rel, reason: format!("unreadable: {e}") });
                continue;
            }
        };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        found.push(Found { rel, path: path.to_path_buf(), size: md.len(), mtime });
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((found, skipped))
}

/// A file left out of the build, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// Why a picture was left out of the build (the report lists it with this reason).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file (0 bytes)")]
    EmptyFile,
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    #[error("not an image (unrecognised format)")]
    UnknownFormat,
    #[error(
        "truncated JPEG: the data stops before the end-of-image marker ({bytes} bytes); skipped rather than \
         decoded partially (the missing part would be grey)"
    )]
    TruncatedJpeg { bytes: usize },
    #[error("not a readable image: {0}")]
    Unreadable(image::ImageError),
    #[error("empty image ({w}×{h})")]
    EmptyImage { w: u32, h: u32 },
    #[error("enormous image ({w}×{h} px, limit {} Mpx)", MAX_PIXELS / 1_000_000)]
    Enormous { w: u32, h: u32 },
    #[error(transparent)]
    Shape(#[from] crate::features::InputError),
    #[error("corrupt or truncated image: {0}")]
    Corrupt(image::ImageError),
}

/// Decodes an image with size limits; the error says why a picture is left out.
///
/// A JPEG whose data stops before its end-of-image marker (a download or copy cut short) is
/// refused, not decoded partially: the decoder would fill the missing part with grey and that
/// picture would take a place in the map among the real ones. The report lists it, so the file can
/// be fetched again.
pub fn decode(path: &Path, size: u64) -> Result<image::DynamicImage, DecodeError> {
    if size == 0 {
        return Err(DecodeError::EmptyFile);
    }
    let bytes = std::fs::read(path)?;
    if bytes.is_empty() {
        return Err(DecodeError::EmptyFile);
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes));
    let mut reader = reader.with_guessed_format()?;
    let Some(format) = reader.format() else {
        return Err(DecodeError::UnknownFormat);
    };
    if format == image::ImageFormat::Jpeg && jpeg_truncated(&bytes) {
        return Err(DecodeError::TruncatedJpeg { bytes: bytes.len() });
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    // One header parse: the decoder gives the size, then decodes (GIF: first frame).
    let decoder = reader.into_decoder().map_err(DecodeError::Unreadable)?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    if w == 0 || h == 0 {
        return Err(DecodeError::EmptyImage { w, h });
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(DecodeError::Enormous { w, h });
    }
    crate::features::input_size(w, h)?;
    image::DynamicImage::from_decoder(decoder).map_err(DecodeError::Corrupt)
}

/// Whether a JPEG stream ends before its end-of-image marker (EOI). Walks the marker segments and
/// the entropy-coded data of every scan (where 0xFF is always followed by 0x00 or a restart
/// marker), so bytes inside the data are never taken for markers; trailing bytes after EOI are
/// allowed. Not a JPEG (no SOI): `false`.
pub fn jpeg_truncated(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut p = 2;
    loop {
        while p < b.len() && b[p] != 0xFF {
            p += 1;
        }
        while p < b.len() && b[p] == 0xFF {
            p += 1;
        }
        let Some(&m) = b.get(p) else { return true };
        p += 1;
        match m {
            0xD9 => return false,
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {
                let Some(len) = b.get(p..p + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return true;
                };
                p += len.max(2);
                if p > b.len() {
                    return true;
                }
                if m == 0xDA {
                    // Entropy-coded data up to the next marker.
                    loop {
                        let Some(q) = b[p..].iter().position(|&v| v == 0xFF).map(|q| p + q) else { return true };
                        let Some(&n) = b.get(q + 1) else { return true };
                        if n == 0x00 || n == 0xFF || (0xD0..=0xD7).contains(&n) {
                            p = q + 1;
                            continue;
                        }
                        p = q;
                        break;
                    }
                }
            }
        }
    }
}

/// Per-work metadata (from the CSV, when given). Known columns are typed; others are kept in
/// `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub artist: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medium: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub museum: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Why a metadata CSV cannot be used at all (bad rows are warnings, not errors).
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot read metadata {path}: {source}")]
    Read { path: String, source: csv::Error },
    #[error("metadata {path}: bad header: {source}")]
    Header { path: String, source: csv::Error },
    #[error("metadata {path}: no `file` column (columns: {columns})")]
    NoFileColumn { path: String, columns: String },
}

/// Reads a metadata CSV (column `file`, `filename`, `image` or `path`). Returns the rows keyed by
/// that column as written (separators `/`, no leading `./`) and warnings (bad or repeated rows are
/// reported, not fatal). [`join_metadata`] matches the keys to the collection's files.
pub fn read_metadata(csv_path: &Path) -> Result<(HashMap<String, Metadata>, Vec<String>), MetadataError> {
    let path = || csv_path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .map_err(|source| MetadataError::Read { path: path(), source })?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|source| MetadataError::Header { path: path(), source })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let file_col = headers
        .iter()
        .position(|h| ["file", "filename", "image", "path"].contains(&h.to_ascii_lowercase().as_str()))
        .ok_or_else(|| MetadataError::NoFileColumn { path: path(), columns: headers.join(", ") })?;
    let mut map = HashMap::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (row, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("metadata row {}: {e}", row + 2));
                continue;
            }
        };
        let Some(file) = rec.get(file_col).map(normalise_key).filter(|f| !f.is_empty()) else {
            warnings.push(format!("metadata row {}: empty file name", row + 2));
            continue;
        };
        let mut m = Metadata::default();
        for (i, value) in rec.iter().enumerate() {
            let value = value.trim();
            if i == file_col || value.is_empty() {
                continue;
            }
            let Some(h) = headers.get(i) else { continue };
            match h.to_ascii_lowercase().as_str() {
                "id" => m.id = value.into(),
                "title" => m.title = value.into(),
                "artist" | "creator" => m.artist = value.into(),
                "year" => match value.parse::<f64>() {
                    Ok(y) if y.is_finite() && y.abs() < 100_000.0 => m.year = Some(y.round() as i32),
                    _ => {
                        m.extra.insert(h.clone(), value.into());
                    }
                },
                "date" => m.date = value.into(),
                "medium" => m.medium = value.into(),
                "museum" | "institution" => m.museum = value.into(),
                "source_url" | "url" => m.source_url = value.into(),
                _ => {
                    m.extra.insert(h.clone(), value.into());
                }
            }
        }
        if let Some(first) = first_row.get(&file) {
            warnings.push(format!("metadata row {}: `{file}` repeats row {first}; the later row is used", row + 2));
        } else {
            first_row.insert(file.clone(), row + 2);
        }
        map.insert(file, m);
    }
    Ok((map, warnings))
}

fn normalise_key(file: &str) -> String {
    let mut k = file.trim().replace('\\', "/");
    while let Some(rest) = k.strip_prefix("./").or_else(|| k.strip_prefix('/')) {
        k = rest.to_string();
    }
    k
}

/// Joins metadata rows to works (paths relative to the collection, `/` separators). A row matches
/// a work when its file is the work's path or a tail of it on a folder boundary (`b.png` matches
/// `sub/b.png`); a work takes the most specific row that matches it. A row that would be the match
/// of several works (`b.png` with `x/b.png` and `y/b.png` in the collection) is given to none of
/// them, with a warning: same-named files in different folders need the folder in the CSV.
pub fn join_metadata(rels: &[&str], meta: &HashMap<String, Metadata>) -> (Vec<Option<Metadata>>, Vec<String>) {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let mut by_base: HashMap<String, Vec<&str>> = HashMap::new();
    for k in meta.keys() {
        by_base.entry(base(k)).or_default().push(k.as_str());
    }
    let mut uses: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, rel) in rels.iter().enumerate() {
        let chosen = by_base.get(&base(rel)).and_then(|keys| {
            keys.iter()
                .filter(|k| {
                    *rel == **k
                        || (rel.len() > k.len()
                            && rel.ends_with(**k)
                            && rel.as_bytes()[rel.len() - k.len() - 1] == b'/')
                })
                .max_by_key(|k| (k.len(), **k))
                .copied()
        });
        if let Some(k) = chosen {
            uses.entry(k).or_default().push(i);
        }
    }
    let mut out = vec![None; rels.len()];
    let mut warnings = Vec::new();
    for (k, works) in uses {
        if let [i] = works[..] {
            out[i] = Some(meta[k].clone());
        } else {
            let list: Vec<&str> = works.iter().take(4).map(|&i| rels[i]).collect();
            warnings.push(format!(
                "metadata for `{k}` matches {} files ({}{}); used for none of them — give the path relative to the \
                 collection folder",
                works.len(),
                list.join(", "),
                if works.len() > 4 { ", …" } else { "" }
            ));
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_known_and_unknown_columns_and_reports_bad_rows() {
        let dir = std::env::temp_dir().join(format!("hr-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.csv");
        std::fs::write(&p, "file,title,artist,year,century,museum\na.jpg,Sunset,Ann,1890,19,Prado\nsub/b.png,,Bob,-350,,\n,x,y,1,,\nc.jpg,\"Quote, comma\",Cy,circa,,\n").unwrap();
        let (m, warnings) = read_metadata(&p).unwrap();
        assert_eq!(m["a.jpg"].title, "Sunset");
        assert_eq!(m["a.jpg"].year, Some(1890));
        assert_eq!(m["a.jpg"].museum, "Prado");
        assert_eq!(m["a.jpg"].extra["century"], "19");
        assert_eq!(m["sub/b.png"].year, Some(-350));
        assert_eq!(m["c.jpg"].title, "Quote, comma");
        assert_eq!(m["c.jpg"].year, None);
        assert_eq!(m["c.jpg"].extra["year"], "circa");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        std::fs::write(&p, "name,title\na.jpg,x\n").unwrap();
        assert!(matches!(read_metadata(&p).unwrap_err(), MetadataError::NoFileColumn { .. }));
        assert!(read_metadata(&p).unwrap_err().to_string().contains("no `file` column"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn truncated_jpegs_are_told_from_whole_ones() {
        let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([(x * 5) as u8, (y * 6) as u8, 90]));
        let mut whole = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut whole), image::ImageFormat::Jpeg).unwrap();
        assert!(!jpeg_truncated(&whole));
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"\0\0junk after the end");
        assert!(!jpeg_truncated(&trailing));
        for cut in [3, 20, whole.len() / 2, whole.len() - 2, whole.len() - 1] {
            assert!(jpeg_truncated(&whole[..cut]), "cut at {cut} of {}", whole.len());
        }
        assert!(!jpeg_truncated(b"\x89PNG"));
        // Every cut and any byte flipped: an answer, never a panic.
        for cut in 0..whole.len() {
            let _ = jpeg_truncated(&whole[..cut]);
        }
        let dir = std::env::temp_dir().join(format!("hr-jpeg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cut.jpg");
        std::fs::write(&p, &whole[..whole.len() / 2]).unwrap();
        let e = decode(&p, (whole.len() / 2) as u64).unwrap_err();
        assert!(matches!(e, DecodeError::TruncatedJpeg { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("truncated JPEG") && e.contains("decoded partially"), "{e}");
        std::fs::write(&p, &whole).unwrap();
        assert_eq!(decode(&p, whole.len() as u64).unwrap().width(), 48);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn metadata_joins_on_the_path_and_refuses_ambiguous_file_names() {
        let m = |t: &str| Metadata { title: t.into(), ..Default::default() };
        let meta: HashMap<String, Metadata> =
            [("x.jpg", m("plain")), ("b/x.jpg", m("bee")), ("y.png", m("why")), ("deep/z.jpg", m("zed"))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let rels = ["a/x.jpg", "b/x.jpg", "c/x.jpg", "q/y.png", "top/deep/z.jpg", "deepz.jpg", "ax.jpg"];
        let (joined, warnings) = join_metadata(&rels, &meta);
        let titles: Vec<Option<&str>> = joined.iter().map(|j| j.as_ref().map(|m| m.title.as_str())).collect();
        assert_eq!(titles, [None, Some("bee"), None, Some("why"), Some("zed"), None, None]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`x.jpg` matches 2 files (a/x.jpg, c/x.jpg)"), "{warnings:?}");
        // Without the clash the file name alone is enough.
        let (joined, warnings) = join_metadata(&["a/x.jpg"], &meta);
        assert_eq!(joined[0].as_ref().unwrap().title, "plain");
        assert!(warnings.is_empty());
    }
}
