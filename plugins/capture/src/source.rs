use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{CaptureError, Frame};
#[cfg(not(target_arch = "wasm32"))]
use crate::{DEMO_CLIP, ImageSequenceSource, VideoSource};

/// Where frames come from, as written on the command line and in the settings file:
/// `webcam`, `webcam:N`, `video:PATH`, `images:DIR`, `demo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceSpec {
    Webcam(u32),
    Video(PathBuf),
    Images(PathBuf),
    Demo,
}

impl Default for SourceSpec {
    fn default() -> Self {
        SourceSpec::Webcam(0)
    }
}

impl FromStr for SourceSpec {
    type Err = CaptureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CaptureError::BadSpec(s.to_string());
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match (kind, arg) {
            ("webcam", None) => Ok(SourceSpec::Webcam(0)),
            ("webcam", Some(n)) => n.parse().map(SourceSpec::Webcam).map_err(|_| bad()),
            ("video", Some(p)) if !p.is_empty() => Ok(SourceSpec::Video(p.into())),
            ("images", Some(p)) if !p.is_empty() => Ok(SourceSpec::Images(p.into())),
            ("demo", None) => Ok(SourceSpec::Demo),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Webcam(n) => write!(f, "webcam:{n}"),
            SourceSpec::Video(p) => write!(f, "video:{}", p.display()),
            SourceSpec::Images(p) => write!(f, "images:{}", p.display()),
            SourceSpec::Demo => write!(f, "demo"),
        }
    }
}

impl TryFrom<String> for SourceSpec {
    type Error = CaptureError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SourceSpec> for String {
    fn from(s: SourceSpec) -> String {
        s.to_string()
    }
}

/// What a source says about itself once open.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceInfo {
    /// Human-readable name, e.g. "demo clip (franck.mp4)" or the camera's name.
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// The rate the source promises (camera mode, video frame rate, sequence rate).
    pub nominal_fps: f64,
}

/// A source of frames, pulled without blocking.
///
/// `poll(now)` returns the newest frame due at `now` (time since the source was opened) that has
/// not been returned yet, or `None`. Frames a slow consumer missed are dropped — latest wins, and
/// nothing ever queues without bound. Nothing here blocks, so the same trait serves wasm.
pub trait FrameSource: Send {
    fn info(&self) -> SourceInfo;

    /// The newest undelivered frame due at `now`. An error that
    /// [`is_recoverable`](CaptureError::is_recoverable) spoils one frame; any other ends the source.
    fn poll(&mut self, now: Duration) -> Result<Option<Frame>, CaptureError>;
}

/// Options that apply to file sources.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Start again at the end of a video or image sequence.
    pub looping: bool,
    /// Playback rate of an image sequence.
    pub images_fps: f64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { looping: true, images_fps: 30.0 }
    }
}

/// Opens exactly the source asked for.
pub fn open_source(spec: &SourceSpec, opts: OpenOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(match spec {
        #[cfg(not(target_arch = "wasm32"))]
        SourceSpec::Demo => {
            Box::new(VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo clip (franck.mp4)")?.looping(opts.looping))
        }
        #[cfg(not(target_arch = "wasm32"))]
        SourceSpec::Video(path) => Box::new(VideoSource::open(path)?.looping(opts.looping)),
        #[cfg(not(target_arch = "wasm32"))]
        SourceSpec::Images(dir) => Box::new(ImageSequenceSource::open(dir, opts.images_fps)?.looping(opts.looping)),
        #[cfg(not(target_arch = "wasm32"))]
        SourceSpec::Webcam(index) => Box::new(crate::webcam::WebcamSource::open(*index)?),
        // The web: a <video> element fed by getUserMedia or by a URL (the browser decodes).
        #[cfg(target_arch = "wasm32")]
        SourceSpec::Demo => {
            Box::new(crate::web::WebVideoSource::url(crate::DEMO_CLIP_URL, "demo clip (franck.mp4)", opts.looping)?)
        }
        #[cfg(target_arch = "wasm32")]
        SourceSpec::Video(path) => {
            let url = path.to_string_lossy().into_owned();
            Box::new(crate::web::WebVideoSource::url(&url, &url, opts.looping)?)
        }
        #[cfg(target_arch = "wasm32")]
        SourceSpec::Images(dir) => {
            return Err(CaptureError::Unsupported(format!(
                "{}: image folders are not readable from a web page; use the camera or a video URL",
                dir.display()
            )));
        }
        #[cfg(target_arch = "wasm32")]
        SourceSpec::Webcam(_) => Box::new(crate::web::WebVideoSource::camera()?),
    })
}

/// Opens the source asked for; if it is a webcam that cannot be opened, falls back to the demo
/// clip and returns a one-line notice saying why. File sources that fail are errors: the user
/// named that file, so silently showing something else would hide the mistake.
pub fn open_with_fallback(
    spec: &SourceSpec,
    opts: OpenOptions,
) -> Result<(Box<dyn FrameSource>, Option<String>), CaptureError> {
    match open_source(spec, opts) {
        Ok(s) => Ok((s, None)),
        Err(e) if matches!(spec, SourceSpec::Webcam(_)) => {
            let demo = open_source(&SourceSpec::Demo, opts)?;
            Ok((demo, Some(format!("{e} — showing the demo clip instead"))))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        for (text, spec) in [
            ("webcam", SourceSpec::Webcam(0)),
            ("webcam:2", SourceSpec::Webcam(2)),
            ("video:a/b.mp4", SourceSpec::Video("a/b.mp4".into())),
            ("images:frames", SourceSpec::Images("frames".into())),
            ("demo", SourceSpec::Demo),
        ] {
            assert_eq!(text.parse::<SourceSpec>().unwrap(), spec, "{text}");
        }
        assert_eq!(SourceSpec::Webcam(0).to_string(), "webcam:0");
        assert_eq!(SourceSpec::Video("x.mp4".into()).to_string(), "video:x.mp4");
        for bad in ["", "webcam:x", "video:", "images", "cam", "demo:1"] {
            assert!(bad.parse::<SourceSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_serde_is_the_cli_text() {
        let json = serde_json::to_string(&SourceSpec::Images("d".into())).unwrap();
        assert_eq!(json, "\"images:d\"");
        assert_eq!(serde_json::from_str::<SourceSpec>("\"webcam:3\"").unwrap(), SourceSpec::Webcam(3));
        assert!(serde_json::from_str::<SourceSpec>("\"floppy\"").is_err());
    }

    #[test]
    fn missing_video_is_a_clear_error() {
        let err = open_source(&SourceSpec::Video("/no/such/clip.mp4".into()), OpenOptions::default())
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(msg.contains("/no/such/clip.mp4"), "{msg}");
    }

    #[test]
    fn a_missing_webcam_falls_back_to_the_demo() {
        // Index 99 exists on no machine.
        let (src, notice) = open_with_fallback(&SourceSpec::Webcam(99), OpenOptions::default()).unwrap();
        assert!(src.info().name.contains("demo"));
        let notice = notice.expect("a notice");
        assert!(notice.contains("demo clip"), "{notice}");
    }
}
