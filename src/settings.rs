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
            Ok(mut s) => {
                let (head, notes) = s.head.checked();
                s.head = head;
                let warning = (!notes.is_empty())
                    .then(|| format!("{}: {}; the file is left as it is", self.location(), notes.join("; ")));
                (s, warning)
            }
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
    fn out_of_range_head_values_are_replaced_with_a_warning() {
        let (dir, store) = temp_store("range");
        std::fs::create_dir_all(&dir).unwrap();
        let text = r#"{"source": "demo", "head": {"screen_width_cm": 0, "camera_hfov_deg": 1e39,
            "filter": {"min_cutoff": -1, "beta": 0.2, "d_cutoff": 0.3}}}"#;
        std::fs::write(store.path(), text).unwrap();
        let (s, warning) = store.load();
        let warning = warning.expect("a warning");
        for name in ["screen_width_cm", "camera_hfov_deg", "filter.min_cutoff"] {
            assert!(warning.contains(name), "{warning}");
        }
        let d = HeadConfig::default();
        assert_eq!(s.source, SourceSpec::Demo);
        assert_eq!((s.head.screen_width_cm, s.head.camera_hfov_deg), (d.screen_width_cm, None));
        assert_eq!((s.head.filter.min_cutoff, s.head.filter.beta), (d.filter.min_cutoff, 0.2));
        // The user's file is not rewritten behind their back.
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), text);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_fields_and_missing_fields_are_tolerated() {
        let s: Settings = serde_json::from_str(r#"{"future_option": true}"#).unwrap();
        assert_eq!(s, Settings::default());
    }
}

/// Property tests of the settings file: `PROPTEST_CASES` sets the number of cases (256 by
/// default); README "Robustness" gives the long-run command.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// A fresh store in its own folder, holding `bytes` as its file.
    fn store_with(bytes: &[u8]) -> (PathBuf, SettingsStore) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("headroom-settings-prop-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SettingsStore::in_dir(&dir);
        std::fs::write(store.path(), bytes).unwrap();
        (dir, store)
    }

    /// Loads `bytes`; checks that nothing panicked, the values are usable and the user's bytes
    /// are still on disk (as the file, or as its backup).
    fn load_checked(bytes: &[u8]) -> Result<(), TestCaseError> {
        let (dir, store) = store_with(bytes);
        let (s, _warning) = store.load();
        let h = s.head;
        prop_assert!(HeadConfig::SCREEN_WIDTH_CM.contains(&h.screen_width_cm));
        prop_assert!(HeadConfig::SCREEN_HEIGHT_CM.contains(&h.screen_height_cm));
        prop_assert!(h.camera_offset_cm.iter().all(|v| HeadConfig::CAMERA_OFFSET_CM.contains(v)));
        prop_assert!(h.camera_hfov_deg.is_none_or(|f| HeadConfig::HFOV_DEG.contains(&f)));
        prop_assert!(HeadConfig::DISTANCE_CM.contains(&h.assumed_distance_cm));
        prop_assert!(HeadConfig::CUTOFF_HZ.contains(&h.filter.min_cutoff));
        prop_assert!(HeadConfig::CUTOFF_HZ.contains(&h.filter.d_cutoff));
        prop_assert!(HeadConfig::BETA.contains(&h.filter.beta) && HeadConfig::PREDICT_MS.contains(&h.predict_ms));
        let kept: Vec<Vec<u8>> =
            std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        prop_assert!(kept.iter().any(|k| k == bytes), "the user's file was lost");
        std::fs::remove_dir_all(dir).unwrap();
        Ok(())
    }

    fn float() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<f64>().prop_filter_map("finite", |v| serde_json::Number::from_f64(v).map(serde_json::Value::Number)),
            prop::sample::select(vec![0.0, -1.0, 1e39, -1e39, 1e-300, 60.0, 170.1, 9.99])
                .prop_map(|v| serde_json::json!(v)),
            any::<i64>().prop_map(|v| serde_json::json!(v)),
            Just(serde_json::Value::Null),
            ".{0,8}".prop_map(serde_json::Value::String),
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_load_without_panic_or_loss(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            load_checked(&bytes)?;
        }

        #[test]
        fn any_values_in_a_well_formed_file_load_in_range(
            values in prop::collection::vec(float(), 13),
            source in prop_oneof![Just("demo".to_string()), "(webcam|video|images)(:[a-z/. ]{0,12})?", ".{0,10}"],
        ) {
            let v = &values;
            let text = serde_json::json!({
                "version": v[0], "source": source, "facekat_high_score": v[1],
                "head": {
                    "screen_width_cm": v[2], "screen_height_cm": v[3],
                    "camera_offset_cm": [v[4], v[5], v[6]], "camera_hfov_deg": v[7],
                    "assumed_distance_cm": v[8], "predict_ms": v[9],
                    "filter": {"min_cutoff": v[10], "beta": v[11], "d_cutoff": v[12]},
                },
            });
            load_checked(text.to_string().as_bytes())?;
        }
    }
}
