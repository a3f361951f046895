//! Capture in the browser: a hidden `<video>` element fed by the camera (`getUserMedia`) or by a
//! URL (the demo clip; the browser decodes any profile), drawn into a canvas and read back as
//! RGBA8 once per new video frame. Nothing blocks: the camera request is a promise whose outcome
//! [`WebVideoSource::poll`] reports later; a refusal (permission denied, no camera) is an error
//! that makes the capture plugin switch to the demo clip with a notice.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement};

use crate::{CaptureError, Frame, FrameSource, SourceInfo};

/// Frames are scaled down to at most this width (the tracker works at 200 px anyway).
const MAX_WIDTH: u32 = 640;

#[derive(Default)]
struct Shared {
    /// Set when getUserMedia or playback failed.
    error: Option<String>,
}

struct Inner {
    video: HtmlVideoElement,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    shared: Rc<RefCell<Shared>>,
    last_time: f64,
    seq: u64,
    name: String,
    camera: bool,
}

impl Inner {
    fn new(
        video: HtmlVideoElement,
        canvas: HtmlCanvasElement,
        ctx: CanvasRenderingContext2d,
        shared: Rc<RefCell<Shared>>,
        name: &str,
        camera: bool,
    ) -> Self {
        Inner { video, canvas, ctx, shared, last_time: -1.0, seq: 0, name: name.into(), camera }
    }
}

/// A `<video>`-backed [`FrameSource`].
pub struct WebVideoSource(Inner);

// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread, so these
// JS handles can never be used from another thread.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for WebVideoSource {}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<web_sys::DomException>().map(|d| format!("{}: {}", d.name(), d.message())))
        .unwrap_or_else(|| format!("{e:?}"))
}

fn unsupported(what: &str, e: JsValue) -> CaptureError {
    CaptureError::Unsupported(format!("{what}: {}", js_err(e)))
}

fn elements() -> Result<(HtmlVideoElement, HtmlCanvasElement, CanvasRenderingContext2d), CaptureError> {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| CaptureError::Unsupported("no browser document".into()))?;
    let video: HtmlVideoElement =
        doc.create_element("video").map_err(|e| unsupported("video element", e))?.unchecked_into();
    video.set_muted(true);
    video.set_autoplay(true);
    let _ = video.set_attribute("playsinline", "");
    let _ = video.set_attribute("crossorigin", "anonymous");
    let canvas: HtmlCanvasElement =
        doc.create_element("canvas").map_err(|e| unsupported("canvas element", e))?.unchecked_into();
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(|e| unsupported("canvas 2d", e))?
        .ok_or_else(|| CaptureError::Unsupported("no 2d canvas".into()))?
        .unchecked_into();
    Ok((video, canvas, ctx))
}

impl WebVideoSource {
    /// The first camera, through `getUserMedia` (the browser asks for permission).
    pub fn camera() -> Result<Self, CaptureError> {
        let (video, canvas, ctx) = elements()?;
        let shared = Rc::new(RefCell::new(Shared::default()));
        let devices = web_sys::window()
            .ok_or_else(|| CaptureError::NoCamera(" (no browser window)".into()))?
            .navigator()
            .media_devices()
            .map_err(|_| {
                CaptureError::NoCamera(" (this page has no camera access: it needs https or localhost)".into())
            })?;
        let constraints = web_sys::MediaStreamConstraints::new();
        constraints.set_video(&JsValue::TRUE);
        let promise = devices
            .get_user_media_with_constraints(&constraints)
            .map_err(|e| CaptureError::NoCamera(format!(" ({})", js_err(e))))?;
        let (v, s) = (video.clone(), shared.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(stream) => {
                    let stream: web_sys::MediaStream = stream.unchecked_into();
                    v.set_src_object(Some(&stream));
                    if let Ok(p) = v.play() {
                        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                    }
                }
                Err(e) => s.borrow_mut().error = Some(js_err(e)),
            }
        });
        Ok(WebVideoSource(Inner::new(video, canvas, ctx, shared, "camera", true)))
    }

    /// A video file at `url` (relative to the page), played muted and, if asked, looped.
    pub fn url(url: &str, name: &str, looping: bool) -> Result<Self, CaptureError> {
        let (video, canvas, ctx) = elements()?;
        let shared = Rc::new(RefCell::new(Shared::default()));
        video.set_loop(looping);
        video.set_src(url);
        let (v, s, u) = (video.clone(), shared.clone(), url.to_string());
        wasm_bindgen_futures::spawn_local(async move {
            match v.play() {
                Ok(p) => {
                    if let Err(e) = wasm_bindgen_futures::JsFuture::from(p).await {
                        s.borrow_mut().error = Some(format!("{u}: {}", js_err(e)));
                    }
                }
                Err(e) => s.borrow_mut().error = Some(format!("{u}: {}", js_err(e))),
            }
        });
        Ok(WebVideoSource(Inner::new(video, canvas, ctx, shared, name, false)))
    }
}

impl FrameSource for WebVideoSource {
    fn info(&self) -> SourceInfo {
        let v = &self.0.video;
        SourceInfo { name: self.0.name.clone(), width: v.video_width(), height: v.video_height(), nominal_fps: 30.0 }
    }

    fn poll(&mut self, now: Duration) -> Result<Option<Frame>, CaptureError> {
        let s = &mut self.0;
        if let Some(e) = s.shared.borrow_mut().error.take() {
            return Err(if s.camera {
                CaptureError::NoCamera(format!(" (the browser refused the camera: {e})"))
            } else {
                CaptureError::Unsupported(format!("video playback failed: {e}"))
            });
        }
        // HAVE_CURRENT_DATA or better, and a frame we have not read yet.
        let (vw, vh) = (s.video.video_width(), s.video.video_height());
        if s.video.ready_state() < 2 || vw == 0 || vh == 0 {
            return Ok(None);
        }
        let t = s.video.current_time();
        if t == s.last_time && !s.camera {
            return Ok(None);
        }
        s.last_time = t;
        let scale = (MAX_WIDTH as f64 / vw as f64).min(1.0);
        let (w, h) = (((vw as f64 * scale) as u32).max(1), ((vh as f64 * scale) as u32).max(1));
        if s.canvas.width() != w || s.canvas.height() != h {
            s.canvas.set_width(w);
            s.canvas.set_height(h);
        }
        s.ctx
            .draw_image_with_html_video_element_and_dw_and_dh(&s.video, 0.0, 0.0, w as f64, h as f64)
            .map_err(|e| unsupported("drawing the video", e))?;
        let data = s.ctx.get_image_data(0.0, 0.0, w as f64, h as f64).map_err(|e| unsupported("reading pixels", e))?;
        let rgba = data.data().0;
        let seq = s.seq;
        s.seq += 1;
        Ok(Frame::new(w, h, rgba, now, seq))
    }
}
