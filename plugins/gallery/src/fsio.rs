//! Crash-safe file writes: a temporary file in the same folder, `sync_all`, then a rename over the
//! target and a sync of the folder, so a reader sees the old file or the new one, never a part.

use std::io::Write;
use std::path::Path;

/// Prefix of the temporary files (left behind only by a killed process; removed by
/// [`remove_stale_temporaries`]).
pub const TEMP_PREFIX: &str = ".headroom-";
/// Suffix of the temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Replaces `path` by `bytes` through a temporary file and a rename, without syncing: for cache
/// files that are checked when read (a reader sees the old file, the new one, or after a power cut
/// possibly an unreadable one, never a mix that passes as good).
pub fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Syncs a folder's entries (the renames in it) to disk; a no-op where folders cannot be opened.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().ok();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Removes the temporary files a killed writer left in `dir`; returns how many.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX)
            && name.ends_with(TEMP_SUFFIX)
            && e.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(e.path()).is_ok()
        {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("hr-fsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::write(dir.join(format!("{TEMP_PREFIX}x{TEMP_SUFFIX}")), b"left by a kill").unwrap();
        assert_eq!(remove_stale_temporaries(&dir), 1);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
