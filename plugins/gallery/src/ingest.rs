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

/// Decodes an image with size limits; errors are human-readable reasons.
pub fn decode(path: &Path, size: u64) -> Result<image::DynamicImage, String> {
    if size == 0 {
        return Err("empty file (0 bytes)".into());
    }
    let reader = image::ImageReader::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = reader.with_guessed_format().map_err(|e| format!("cannot read: {e}"))?;
    if reader.format().is_none() {
        return Err("not an image (unrecognised format)".into());
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    // One open and one header parse: the decoder gives the size, then decodes (GIF: first frame).
    let decoder = reader.into_decoder().map_err(|e| format!("not a readable image: {e}"))?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    if w == 0 || h == 0 {
        return Err(format!("empty image ({w}×{h})"));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("enormous image ({w}×{h} px, limit {} Mpx)", MAX_PIXELS / 1_000_000));
    }
    image::DynamicImage::from_decoder(decoder).map_err(|e| format!("corrupt or truncated image: {e}"))
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

/// Reads a metadata CSV keyed by file name (column `file`, `filename`, `image` or `path`; matched
/// on the base name). Returns the map and warnings (bad rows are reported, not fatal).
pub fn read_metadata(csv_path: &Path) -> Result<(HashMap<String, Metadata>, Vec<String>), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .map_err(|e| format!("cannot read metadata {}: {e}", csv_path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("metadata {}: bad header: {e}", csv_path.display()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let file_col = headers
        .iter()
        .position(|h| ["file", "filename", "image", "path"].contains(&h.to_ascii_lowercase().as_str()))
        .ok_or_else(|| {
            format!("metadata {}: no `file` column (columns: {})", csv_path.display(), headers.join(", "))
        })?;
    let mut map = HashMap::new();
    let mut warnings = Vec::new();
    for (row, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("metadata row {}: {e}", row + 2));
                continue;
            }
        };
        let Some(file) = rec.get(file_col).map(str::trim).filter(|f| !f.is_empty()) else {
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
        let base = Path::new(file).file_name().map(|b| b.to_string_lossy().to_string()).unwrap_or_else(|| file.into());
        map.insert(base, m);
    }
    Ok((map, warnings))
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
        assert_eq!(m["b.png"].year, Some(-350));
        assert_eq!(m["c.jpg"].title, "Quote, comma");
        assert_eq!(m["c.jpg"].year, None);
        assert_eq!(m["c.jpg"].extra["year"], "circa");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        std::fs::write(&p, "name,title\na.jpg,x\n").unwrap();
        assert!(read_metadata(&p).unwrap_err().contains("no `file` column"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
