//! User settings, persisted as JSON in the per-user config folder (native) or in the browser's
//! `localStorage` (web).
//!
//! A corrupt file never stops the app: it is moved aside as a backup, a warning says where, and
//! the defaults are used.

use std::io;
use std::path::{Path, PathBuf};

use web_time::{SystemTime, UNIX_EPOCH};

use bevy::prelude::Resource;
use headroom_capture::SourceSpec;
use headroom_head::HeadConfig;
use serde::{Deserialize, Serialize};

/// Environment variable that overrides the config folder (tests, portable installs).
pub const CONFIG_DIR_ENV: &str = "HEADROOM_CONFIG_DIR";
const FILE_NAME: &str = "settings.json";

/// Everything headroom remembers between runs.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Format version of this file.
    pub version: u32,
    /// Frame source used when `--source` is not given.
    pub source: SourceSpec,
    /// Screen size, camera placement and field of view, head filter.
    pub head: HeadConfig,
    /// FaceKat's best score.
    pub facekat_high_score: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { version: 1, source: SourceSpec::Webcam(0), head: HeadConfig::default(), facekat_high_score: 0 }
    }
}

/// Where the settings live, and the code that reads and writes them.
#[derive(Resource, Clone, Debug)]
pub struct SettingsStore {
    path: PathBuf,
    /// In the browser: `path` is the `localStorage` key.
    browser: bool,
}

impl SettingsStore {
    /// `$HEADROOM_CONFIG_DIR/settings.json`, else the platform's config folder
    /// (`~/.config/headroom/` on Linux). `None` if the platform has no home folder.
    pub fn default_location() -> Option<Self> {
        if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV) {
            return Some(Self::in_dir(dir));
        }
        directories::ProjectDirs::from("org", "headroom", "headroom").map(|d| Self::in_dir(d.config_dir()))
    }

    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        SettingsStore { path: dir.as_ref().join(FILE_NAME), browser: false }
    }

    /// The page's `localStorage` (key `headroom/settings.json`); `None` where the browser gives
    /// none (storage disabled, some private modes).
    #[cfg(target_arch = "wasm32")]
    pub fn browser() -> Option<Self> {
        web::storage().map(|_| SettingsStore { path: PathBuf::from(format!("headroom/{FILE_NAME}")), browser: true })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the settings are, in words: the file's path, or the browser's storage key.
    pub fn location(&self) -> String {
        if self.browser {
            format!("the browser's local storage ({})", self.path.display())
        } else {
            self.path.display().to_string()
        }
    }

    /// Reads the settings. Missing file → defaults, silently. Unreadable or corrupt file →
    /// defaults plus a warning; a corrupt file is renamed to `settings.json.bad-<unix time>`.
    pub fn load(&self) -> (Settings, Option<String>) {
        let text = match self.read_text() {
            Ok(Some(t)) => t,
            Ok(None) => return (Settings::default(), None),
            Err(e) => {
                return (Settings::default(), Some(format!("cannot read {}: {e}; using defaults", self.location())));
            }
        };
        match serde_json::from_str::<Settings>(&text) {
            Ok(s) => (s, None),
            Err(e) => {
                let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let backup = self.path.with_file_name(format!("{FILE_NAME}.bad-{stamp}"));
                let kept = match self.move_aside(&backup, &text) {
                    Ok(()) => format!("kept it as {}", backup.display()),
                    Err(re) => format!("could not back it up ({re})"),
                };
                (Settings::default(), Some(format!("{} is corrupt ({e}); using defaults, {kept}", self.location())))
            }
        }
    }

    /// Writes the settings atomically (temporary file, then rename; one `setItem` in a browser).
    pub fn save(&self, settings: &Settings) -> io::Result<()> {
        let json = serde_json::to_string_pretty(settings).map_err(io::Error::other)? + "\n";
        #[cfg(target_arch = "wasm32")]
        if self.browser {
            return web::set(&self.path.to_string_lossy(), &json);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &self.path)
    }

    fn read_text(&self) -> io::Result<Option<String>> {
        #[cfg(target_arch = "wasm32")]
        if self.browser {
            return web::get(&self.path.to_string_lossy());
        }
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves the stored text to `backup` (in a browser: a copy under the backup key).
    fn move_aside(&self, backup: &Path, _text: &str) -> io::Result<()> {
        #[cfg(target_arch = "wasm32")]
        if self.browser {
            web::set(&backup.to_string_lossy(), _text)?;
            return web::remove(&self.path.to_string_lossy());
        }
        std::fs::rename(&self.path, backup)
    }
}

/// `window.localStorage` through `js_sys::Reflect` (web-sys's `Storage` binding would rebuild
/// web-sys and everything above it for one feature).
#[cfg(target_arch = "wasm32")]
mod web {
    use std::io;

    use js_sys::{Function, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    fn err(what: &str, e: JsValue) -> io::Error {
        io::Error::other(format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
    }

    pub fn storage() -> Option<JsValue> {
        let s = Reflect::get(&js_sys::global(), &JsValue::from_str("localStorage")).ok()?;
        (!s.is_null() && !s.is_undefined()).then_some(s)
    }

    fn call(method: &str, args: &[&str]) -> io::Result<JsValue> {
        let s = storage().ok_or_else(|| io::Error::other("the browser gives no localStorage"))?;
        let f: Function = Reflect::get(&s, &JsValue::from_str(method))
            .map_err(|e| err(method, e))?
            .dyn_into()
            .map_err(|e| err(method, e))?;
        let r = match args {
            [a] => f.call1(&s, &JsValue::from_str(a)),
            [a, b] => f.call2(&s, &JsValue::from_str(a), &JsValue::from_str(b)),
            _ => f.call0(&s),
        };
        r.map_err(|e| err(method, e))
    }

    pub fn get(key: &str) -> io::Result<Option<String>> {
        Ok(call("getItem", &[key])?.as_string())
    }

    pub fn set(key: &str, value: &str) -> io::Result<()> {
        call("setItem", &[key, value]).map(|_| ())
    }

    pub fn remove(key: &str) -> io::Result<()> {
        call("removeItem", &[key]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (PathBuf, SettingsStore) {
        let dir = std::env::temp_dir().join(format!("headroom-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (dir.clone(), SettingsStore::in_dir(&dir))
    }

    #[test]
    fn round_trip_and_missing_file() {
        let (dir, store) = temp_store("rt");
        assert_eq!(store.load(), (Settings::default(), None));
        let s = Settings { source: SourceSpec::Video("/clips/a.mp4".into()), ..Settings::default() };
        store.save(&s).unwrap();
        assert_eq!(store.load(), (s, None));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"video:/clips/a.mp4\""), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_gives_defaults_a_warning_and_a_backup() {
        let (dir, store) = temp_store("bad");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(store.path(), "{ \"source\": 42, ").unwrap();
        let (s, warning) = store.load();
        assert_eq!(s, Settings::default());
        let warning = warning.expect("a warning");
        assert!(warning.contains("corrupt") && warning.contains("bad-"), "{warning}");
        assert!(!store.path().exists());
        let backups: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(backups.len(), 1);
        assert_eq!(std::fs::read_to_string(backups[0].path()).unwrap(), "{ \"source\": 42, ");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_fields_and_missing_fields_are_tolerated() {
        let s: Settings = serde_json::from_str(r#"{"future_option": true}"#).unwrap();
        assert_eq!(s, Settings::default());
    }
}
