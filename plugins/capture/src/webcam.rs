//! Webcams through nokhwa. The camera is created, opened and read on its own thread; the newest
//! frame waits in a one-slot mailbox (latest wins), so a slow consumer never builds a queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

#[derive(Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    stop: AtomicBool,
    /// Frames that arrived but could not be decoded (a corrupt MJPEG frame), dropped.
    dropped: AtomicU64,
}

/// Corrupt frames in a row after which the camera counts as broken (about 2 s at 30 fps); a
/// single bad frame is dropped and counted.
pub const MAX_CORRUPT_IN_A_ROW: u32 = 60;

pub struct WebcamSource {
    index: u32,
    info: SourceInfo,
    shared: Arc<Shared>,
}

impl WebcamSource {
    /// Opens camera `index` at about 640×480 and starts its reader thread. Fails within a few
    /// seconds if the camera is missing, busy or silent.
    pub fn open(index: u32) -> Result<Self, CaptureError> {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<SourceInfo, String>>(1);
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("webcam-{index}"))
            .spawn(move || {
                // A panic in the driver or the decoder ends the thread with a failure the next
                // poll reports, instead of a camera that silently never delivers again.
                let guard = Arc::clone(&thread_shared);
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| reader_thread(index, thread_shared, ready_tx))) {
                    let mut mailbox = guard.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    mailbox.failure = Some(format!("the camera thread panicked: {}", panic_message(&*p)));
                }
            })
            .map_err(|e| CaptureError::Camera { index, reason: e.to_string() })?;
        match ready_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(info)) => Ok(WebcamSource { index, info, shared }),
            Ok(Err(reason)) => Err(CaptureError::NoCamera(format!(" at index {index} ({reason})"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let reason = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner()).failure.clone();
                Err(CaptureError::Camera {
                    index,
                    reason: reason.unwrap_or_else(|| "the camera thread stopped".into()),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                shared.stop.store(true, Ordering::Relaxed);
                Err(CaptureError::Camera { index, reason: "did not open within 5 s".into() })
            }
        }
    }

    /// Frames dropped so far because they could not be decoded.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// What one read from the camera gave.
enum Read {
    Frame(image::RgbImage),
    /// A frame arrived but would not decode.
    Corrupt(String),
    /// The camera itself failed.
    Failed(String),
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
    pump(&shared, Instant::now(), || match cam.frame() {
        Err(e) => Read::Failed(e.to_string()),
        Ok(buf) => match catch_unwind(AssertUnwindSafe(|| buf.decode_image::<RgbFormat>())) {
            Ok(Ok(img)) => Read::Frame(img),
            Ok(Err(e)) => Read::Corrupt(e.to_string()),
            Err(p) => Read::Corrupt(format!("the decoder panicked: {}", panic_message(&*p))),
        },
    });
    let _ = cam.stop_stream();
}

/// Reads frames into the mailbox until told to stop or the camera fails. A corrupt frame is
/// dropped and counted; [`MAX_CORRUPT_IN_A_ROW`] of them in a row, a camera error or a panic in
/// `read` end the loop with a failure for the next poll.
fn pump(shared: &Shared, start: Instant, mut read: impl FnMut() -> Read) {
    let mut seq = 0;
    let mut corrupt_run = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let r = catch_unwind(AssertUnwindSafe(&mut read))
            .unwrap_or_else(|p| Read::Failed(format!("the camera driver panicked: {}", panic_message(&*p))));
        let mut mailbox = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Read::Frame(img) => {
                corrupt_run = 0;
                let (w, h) = img.dimensions();
                if let Some(f) = Frame::new(w, h, rgb_to_rgba(img.as_raw()), start.elapsed(), seq) {
                    mailbox.latest = Some(f);
                    seq += 1;
                }
            }
            Read::Corrupt(reason) => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                corrupt_run += 1;
                if corrupt_run >= MAX_CORRUPT_IN_A_ROW {
                    mailbox.failure = Some(format!("{corrupt_run} corrupt frames in a row (the last: {reason})"));
                    break;
                }
            }
            Read::Failed(reason) => {
                mailbox.failure = Some(reason);
                break;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(shared: &Arc<Shared>) -> WebcamSource {
        let info = SourceInfo { name: "test".into(), width: 4, height: 2, nominal_fps: 30.0 };
        WebcamSource { index: 7, info, shared: Arc::clone(shared) }
    }

    #[test]
    fn a_corrupt_frame_is_dropped_and_counted_and_the_camera_goes_on() {
        let shared = Arc::new(Shared::default());
        let mut reads = vec![
            Read::Frame(image::RgbImage::new(4, 2)),
            Read::Corrupt("bad Huffman code".into()),
            Read::Frame(image::RgbImage::new(4, 2)),
        ]
        .into_iter();
        let stop = Arc::clone(&shared);
        pump(&shared, Instant::now(), move || {
            reads.next().unwrap_or_else(|| {
                stop.stop.store(true, Ordering::Relaxed);
                Read::Corrupt("after the end".into())
            })
        });
        let mut cam = source(&shared);
        let f = cam.poll(Duration::ZERO).unwrap().expect("the frame after the corrupt one");
        assert_eq!(f.seq, 1);
        assert_eq!(cam.dropped_frames(), 2);
        assert!(cam.poll(Duration::ZERO).unwrap().is_none(), "no failure: the camera was only stopped");
    }

    #[test]
    fn a_run_of_corrupt_frames_or_a_panic_ends_the_camera_with_a_reason() {
        let shared = Arc::new(Shared::default());
        pump(&shared, Instant::now(), || Read::Corrupt("garbage".into()));
        let e = source(&shared).poll(Duration::ZERO).unwrap_err().to_string();
        assert!(e.contains("webcam 7") && e.contains("60 corrupt frames in a row") && e.contains("garbage"), "{e}");

        let shared = Arc::new(Shared::default());
        let mut n = 0;
        pump(&shared, Instant::now(), || {
            n += 1;
            if n == 3 {
                panic!("driver bug");
            }
            Read::Frame(image::RgbImage::new(4, 2))
        });
        let mut cam = source(&shared);
        assert_eq!(cam.poll(Duration::ZERO).unwrap().unwrap().seq, 1);
        let e = cam.poll(Duration::ZERO).unwrap_err().to_string();
        assert!(e.contains("panicked: driver bug"), "{e}");
    }
}
