//! Webcams through nokhwa. The camera is created, opened and read on its own thread; the newest
//! frame waits in a one-slot mailbox (latest wins), so a slow consumer never builds a queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

use crate::frame::rgb_to_rgba;
use crate::{CaptureError, Frame, FrameSource, SourceInfo};

/// How long opening a camera may take before we give up on it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A camera the system lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraEntry {
    pub index: u32,
    pub name: String,
    pub description: String,
}

/// Lists the cameras the operating system offers. An empty list means none are connected.
pub fn list_cameras() -> Result<Vec<CameraEntry>, CaptureError> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| CaptureError::NoCamera(format!(" ({e})")))?;
    Ok(cams
        .into_iter()
        .enumerate()
        .map(|(i, c)| CameraEntry {
            index: match c.index() {
                CameraIndex::Index(n) => *n,
                CameraIndex::String(_) => i as u32,
            },
            name: c.human_name(),
            description: c.description().to_string(),
        })
        .collect())
}

#[derive(Default)]
struct Mailbox {
    latest: Option<Frame>,
    failure: Option<String>,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
    stop: AtomicBool,
}

pub struct WebcamSource {
    index: u32,
    info: SourceInfo,
    shared: Arc<Shared>,
}

impl WebcamSource {
    /// Opens camera `index` at about 640×480 and starts its reader thread. Fails within a few
    /// seconds if the camera is missing, busy or silent.
    pub fn open(index: u32) -> Result<Self, CaptureError> {
        let shared = Arc::new(Shared { mailbox: Mutex::default(), stop: AtomicBool::new(false) });
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<SourceInfo, String>>(1);
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("webcam-{index}"))
            .spawn(move || reader_thread(index, thread_shared, ready_tx))
            .map_err(|e| CaptureError::Camera { index, reason: e.to_string() })?;
        match ready_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(info)) => Ok(WebcamSource { index, info, shared }),
            Ok(Err(reason)) => Err(CaptureError::NoCamera(format!(" at index {index} ({reason})"))),
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                Err(CaptureError::Camera { index, reason: "did not open within 5 s".into() })
            }
        }
    }
}

fn reader_thread(index: u32, shared: Arc<Shared>, ready: mpsc::SyncSender<Result<SourceInfo, String>>) {
    let requested = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(CameraFormat::new_from(
        640,
        480,
        FrameFormat::MJPEG,
        30,
    )));
    let opened = Camera::new(CameraIndex::Index(index), requested).and_then(|mut cam| {
        cam.open_stream()?;
        Ok(cam)
    });
    let mut cam = match opened {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let res = cam.resolution();
    let info = SourceInfo {
        name: cam.info().human_name(),
        width: res.width(),
        height: res.height(),
        nominal_fps: f64::from(cam.frame_rate()),
    };
    if ready.send(Ok(info)).is_err() {
        return; // the opener gave up waiting
    }
    let start = Instant::now();
    let mut seq = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let frame = cam.frame().and_then(|buf| buf.decode_image::<RgbFormat>());
        let mut mailbox = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
        match frame {
            Ok(img) => {
                let (w, h) = img.dimensions();
                if let Some(f) = Frame::new(w, h, rgb_to_rgba(img.as_raw()), start.elapsed(), seq) {
                    mailbox.latest = Some(f);
                    seq += 1;
                }
            }
            Err(e) => {
                mailbox.failure = Some(e.to_string());
                break;
            }
        }
    }
    let _ = cam.stop_stream();
}

impl FrameSource for WebcamSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn poll(&mut self, _now: Duration) -> Result<Option<Frame>, CaptureError> {
        let mut mailbox = self.shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = mailbox.latest.take() {
            return Ok(Some(f));
        }
        match &mailbox.failure {
            Some(reason) => Err(CaptureError::Disconnected { index: self.index, reason: reason.clone() }),
            None => Ok(None),
        }
    }
}

impl Drop for WebcamSource {
    fn drop(&mut self) {
        // The thread notices at its next frame and releases the camera; never join (a stuck
        // driver call must not freeze the app).
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}
