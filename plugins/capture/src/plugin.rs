//! Bevy glue: polls the active [`FrameSource`] once per frame (never blocking), publishes the
//! newest frame as [`LatestFrame`] and as the Bevy image [`CameraImage`], and switches sources
//! on [`SwitchSource`]. A source that dies (camera unplugged) is replaced by the demo clip, with a
//! notice in [`CaptureStatus`].

use std::sync::Mutex;
use std::time::Duration;

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

use crate::source::OpenOptions;
use crate::{FpsMeter, Frame, FrameSource, SourceSpec, open_source};

/// The source being read, and when it was opened on the app's real-time clock.
#[derive(Resource)]
struct ActiveSource {
    source: Mutex<Box<dyn FrameSource>>,
    opened_at: Option<Duration>,
    /// Frames delivered by this source so far.
    delivered: u64,
}

/// The newest frame, `None` until the first one arrives.
#[derive(Resource, Default)]
pub struct LatestFrame(pub Option<Frame>);

/// The capture stage's systems (in `PreUpdate`): a new frame, when one is due. The app orders
/// every later stage after it (see `headroom::app`).
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureSystems;

/// When recent frames arrived (app time, `Time<Real>`), by sequence number: what the latency of
/// everything computed from a frame is measured from.
#[derive(Resource, Default, Debug, Clone)]
pub struct FrameArrivals {
    recent: std::collections::VecDeque<(u64, Duration)>,
}

impl FrameArrivals {
    /// Frames remembered (a few seconds' worth).
    pub const KEPT: usize = 256;

    pub fn of(&self, seq: u64) -> Option<Duration> {
        self.recent.iter().rev().find(|(s, _)| *s == seq).map(|(_, t)| *t)
    }

    /// How many of the remembered frames arrived after frame `seq` (delivered frames: a video
    /// source's numbers skip the frames it dropped).
    pub fn newer_than(&self, seq: u64) -> usize {
        self.recent.iter().rev().take_while(|(s, _)| *s > seq).count()
    }

    /// The newest frame's sequence number and arrival.
    pub fn latest(&self) -> Option<(u64, Duration)> {
        self.recent.back().copied()
    }

    fn push(&mut self, seq: u64, at: Duration) {
        if self.recent.back().is_some_and(|(s, _)| *s >= seq) {
            // A new source starts again from 0: forget the old one's frames.
            self.recent.clear();
        }
        self.recent.push_back((seq, at));
        while self.recent.len() > Self::KEPT {
            self.recent.pop_front();
        }
    }
}

/// The newest frame as a texture, for display (egui, materials).
#[derive(Resource)]
pub struct CameraImage(pub Handle<Image>);

/// What the capture side shows the user.
#[derive(Resource, Default, Debug, Clone)]
pub struct CaptureStatus {
    pub source_name: String,
    pub width: u32,
    pub height: u32,
    pub nominal_fps: f64,
    /// Rate at which new frames reached the app.
    pub measured_fps: f64,
    pub frames: u64,
    /// A one-line notice for the user (fallbacks, unreadable frames, failed switches).
    pub notice: Option<String>,
    meter: FpsMeter,
}

/// Ask the capture plugin to read from another source. On failure the current source stays and
/// the reason goes to [`CaptureStatus::notice`].
#[derive(Message, Clone, Debug)]
pub struct SwitchSource(pub SourceSpec);

/// The outcome of a [`SwitchSource`] request: `Ok(())` once the new source is open, or the
/// reason it could not be opened (the old source stays). Whoever keeps the choice (the settings
/// file) should keep it only on `Ok`.
#[derive(Message, Clone, Debug)]
pub struct SourceSwitched {
    pub spec: SourceSpec,
    pub result: Result<(), String>,
}

/// Publishes frames from a source chosen before the app starts.
pub struct CapturePlugin {
    initial: Mutex<Option<Box<dyn FrameSource>>>,
    notice: Option<String>,
    options: OpenOptions,
}

impl CapturePlugin {
    /// `notice` is shown from the start (e.g. "no webcam found — showing the demo clip").
    pub fn new(source: Box<dyn FrameSource>, notice: Option<String>, options: OpenOptions) -> Self {
        CapturePlugin { initial: Mutex::new(Some(source)), notice, options }
    }
}

#[derive(Resource, Clone, Copy)]
struct CaptureOptions(OpenOptions);

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        let source =
            self.initial.lock().unwrap_or_else(|p| p.into_inner()).take().expect("CapturePlugin is added once");
        let mut status = CaptureStatus { notice: self.notice.clone(), ..default() };
        describe(&mut status, source.as_ref());
        if let Some(n) = &self.notice {
            warn!("{n}");
        }
        let handle = app.world_mut().resource_mut::<Assets<Image>>().add(blank_image(1, 1));
        app.insert_resource(ActiveSource { source: Mutex::new(source), opened_at: None, delivered: 0 })
            .insert_resource(CaptureOptions(self.options))
            .insert_resource(CameraImage(handle))
            .insert_resource(status)
            .init_resource::<LatestFrame>()
            .init_resource::<FrameArrivals>()
            .add_message::<SwitchSource>()
            .add_message::<SourceSwitched>()
            .add_systems(PreUpdate, (switch_source, poll_source).chain().in_set(CaptureSystems));
    }
}

fn describe(status: &mut CaptureStatus, source: &dyn FrameSource) {
    let info = source.info();
    status.source_name = info.name;
    status.width = info.width;
    status.height = info.height;
    status.nominal_fps = info.nominal_fps;
    status.measured_fps = 0.0;
    status.meter = FpsMeter::default();
}

/// A black RGBA8 (sRGB) image, the format [`CameraImage`] and other frame textures use.
pub fn blank_image(w: u32, h: u32) -> Image {
    Image::new(
        Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        TextureDimension::D2,
        vec![0; (w * h * 4) as usize],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

fn replace(active: &mut ActiveSource, status: &mut CaptureStatus, source: Box<dyn FrameSource>) {
    describe(status, source.as_ref());
    active.source = Mutex::new(source);
    active.opened_at = None;
    active.delivered = 0;
}

fn switch_source(
    mut requests: MessageReader<SwitchSource>,
    mut active: ResMut<ActiveSource>,
    mut status: ResMut<CaptureStatus>,
    options: Res<CaptureOptions>,
    mut outcomes: MessageWriter<SourceSwitched>,
) {
    // Only the last request of a frame matters.
    let Some(SwitchSource(spec)) = requests.read().last().cloned() else { return };
    let result = match open_source(&spec, options.0) {
        Ok(source) => {
            replace(&mut active, &mut status, source);
            status.notice = None;
            info!("capture: now reading {spec}");
            Ok(())
        }
        Err(e) => {
            warn!("capture: cannot switch to {spec}: {e}");
            status.notice = Some(format!("could not switch source: {e}"));
            Err(e.to_string())
        }
    };
    outcomes.write(SourceSwitched { spec, result });
}

fn poll_source(
    time: Res<Time<Real>>,
    mut active: ResMut<ActiveSource>,
    (mut latest, mut arrivals): (ResMut<LatestFrame>, ResMut<FrameArrivals>),
    mut status: ResMut<CaptureStatus>,
    mut images: ResMut<Assets<Image>>,
    image: Res<CameraImage>,
    options: Res<CaptureOptions>,
) {
    let now = time.elapsed();
    let opened_at = *active.opened_at.get_or_insert(now);
    let result = active.source.get_mut().unwrap_or_else(|p| p.into_inner()).poll(now - opened_at);
    match result {
        Ok(Some(frame)) => {
            if active.delivered == 0 {
                info!("capture: first frame {}×{} from {}", frame.width, frame.height, status.source_name);
            }
            active.delivered += 1;
            // A source may learn its size only from its frames (the web build's demo clip, fetched
            // over HTTP after it opened).
            if (status.width, status.height) != (frame.width, frame.height) {
                (status.width, status.height) = (frame.width, frame.height);
            }
            status.frames += 1;
            status.meter.tick(now);
            status.measured_fps = status.meter.fps();
            publish_image(&mut images, &image.0, &frame);
            arrivals.push(frame.seq, now);
            latest.0 = Some(frame);
        }
        Ok(None) => {}
        Err(e) if e.is_recoverable() => {
            warn!("capture: {e}");
            status.notice = Some(e.to_string());
        }
        Err(e) => {
            let notice = format!("{e} — showing the demo clip instead");
            warn!("capture: {notice}");
            match open_source(&SourceSpec::Demo, options.0) {
                Ok(demo) => replace(&mut active, &mut status, demo),
                Err(e2) => error!("capture: the demo clip failed too: {e2}"),
            }
            status.notice = Some(notice);
        }
    }
}

/// Puts `frame` into the image behind `handle` (re-created when the size changed).
pub fn publish_image(images: &mut Assets<Image>, handle: &Handle<Image>, frame: &Frame) {
    let Some(mut img) = images.get_mut(handle) else { return };
    let size = img.texture_descriptor.size;
    if size.width != frame.width || size.height != frame.height {
        *img = blank_image(frame.width, frame.height);
    }
    img.data = Some(frame.rgba.to_vec());
}
