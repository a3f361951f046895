use std::path::PathBuf;

/// Everything that can go wrong while opening or reading a frame source.
///
/// Each message says what failed and, where there is one, what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot parse source '{0}': expected webcam, webcam:N, video:PATH, images:DIR or demo")]
    BadSpec(String),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: not a playable video: {reason}")]
    BadVideo { path: PathBuf, reason: String },
    #[error(
        "{path}: H.264 profile {profile} (openh264 decodes only Constrained Baseline); \
         install ffmpeg and put it on PATH, or re-encode with \
         `ffmpeg -i IN -c:v libx264 -profile:v baseline -an OUT.mp4`"
    )]
    UnsupportedProfile { path: PathBuf, profile: String },
    #[error("{path}: video decoding failed at frame {frame}: {reason}")]
    Decode { path: PathBuf, frame: u64, reason: String },
    #[error("{dir}: no JPEG or PNG images in this folder")]
    EmptyImageDir { dir: PathBuf },
    #[error("{path}: skipped an unreadable image: {reason}")]
    BadImage { path: PathBuf, reason: String },
    #[error("no webcam found{0}")]
    NoCamera(String),
    #[error("webcam {index}: {reason}")]
    Camera { index: u32, reason: String },
    #[error("webcam {index} stopped delivering frames (unplugged?): {reason}")]
    Disconnected { index: u32, reason: String },
    #[error("webcams are not available in this build: {0}")]
    Unsupported(String),
}

impl CaptureError {
    /// A recoverable error affects one frame only; the source keeps going after it.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, CaptureError::BadImage { .. })
    }
}
