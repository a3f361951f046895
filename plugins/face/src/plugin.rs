//! Bevy glue: tracks the newest captured frame on the async compute pool (one job in flight,
//! stale frames dropped, the main thread never waits) and publishes the result as
//! [`FaceTracking`], with [`FaceFound`] / [`FaceLost`] messages; [`GpuResponsesPlugin`] decides
//! at start-up whether the patch responses run on the render device's GPU.

use bevy::prelude::*;
use bevy::render::renderer::{RenderAdapterInfo, RenderDevice, RenderQueue};
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use headroom_capture::{FpsMeter, LatestFrame};
use headroom_gpu::ComputeChoice;

use crate::model::DrawPath;
use crate::{ClmModel, FaceEvent, FaceFit, FaceTracker, Gray, Rect, StageTimes, TrackOutput, TrackerConfig};

/// The latest tracking result, for every consumer (head pose, Face Lab, games).
#[derive(Resource, Default, Debug, Clone)]
pub struct FaceTracking {
    pub fit: Option<FaceFit>,
    /// Camshift's box while no fit is trusted.
    pub fallback_box: Option<Rect>,
    pub times: StageTimes,
    /// Whole-job time of the last frame, milliseconds.
    pub total_ms: f32,
    /// Frames tracked per second.
    pub fps: f64,
    pub frames: u64,
    /// Capture sequence number of the frame the result belongs to.
    pub frame_seq: u64,
    /// When the result was published (app time, `Time<Real>`).
    pub result_at: std::time::Duration,
    pub frame_size: (u32, u32),
    /// Response maps of the last fit (`71 × search²`), when [`FaceSettings::keep_responses`].
    pub responses: Option<Vec<f32>>,
    pub search: usize,
    /// Where the patch responses are computed ("cpu" or the engine's name).
    pub engine: String,
    /// The landmark backend in use.
    pub landmarks: crate::Landmarks,
    /// Why the configured backend is not in use (the CLM runs instead), if so.
    pub notice: Option<String>,
    meter: FpsMeter,
}

/// The face stage's systems (in `Update`): the finished fit published as [`FaceTracking`], the
/// newest frame handed to the tracking job. Ordered after capture and before the head stage by
/// the app.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaceSystems;

/// A response engine waiting to be installed in the tracker (between jobs), e.g. the GPU twin
/// chosen at start-up by [`GpuResponsesPlugin`]. [`FaceTracking::engine`] then names it.
#[derive(Resource, Default)]
pub struct ResponseEngineInbox(pub Option<Box<dyn crate::ResponseEngine>>);

/// The model's triangles and drawing paths, for meshes and overlays.
#[derive(Resource, Clone, Debug)]
pub struct FaceModelInfo {
    pub triangles: Vec<[usize; 3]>,
    pub paths: Vec<DrawPath>,
}

#[derive(Resource, Clone, Debug)]
pub struct FaceSettings {
    pub enabled: bool,
    /// Copy the response maps out with each result (for the heat-map view).
    pub keep_responses: bool,
}

impl Default for FaceSettings {
    fn default() -> Self {
        FaceSettings { enabled: true, keep_responses: false }
    }
}

#[derive(Message, Clone, Debug)]
pub struct FaceFound;

#[derive(Message, Clone, Debug)]
pub struct FaceLost;

type JobResult = (Box<FaceTracker>, TrackOutput, f32, u64, (u32, u32), Option<Vec<f32>>);

/// The tracker lives here while idle and inside the job while tracking.
#[derive(Resource, Default)]
struct TrackerSlot {
    idle: Option<Box<FaceTracker>>,
    job: Option<Task<JobResult>>,
    last_seq: Option<u64>,
    started: Option<web_time::Instant>,
}

pub struct FacePlugin {
    pub config: TrackerConfig,
}

impl Plugin for FacePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FaceTracking>()
            .init_resource::<FaceSettings>()
            .init_resource::<TrackerSlot>()
            .init_resource::<ResponseEngineInbox>()
            .add_message::<FaceFound>()
            .add_message::<FaceLost>();
        let loaded = ClmModel::from_json(crate::CLMTRACKR_MODEL).map_err(|e| e.to_string()).and_then(|model| {
            let cascade = crate::Cascade::from_xml(crate::FRONTALFACE_ALT).map_err(|e| e.to_string())?;
            let tracker = FaceTracker::new(&model, cascade, self.config.clone()).map_err(|e| e.to_string())?;
            Ok((model, tracker))
        });
        match loaded {
            Ok((model, tracker)) => {
                if let Some(n) = &tracker.notice {
                    warn!("face: {n}");
                }
                app.insert_resource(FaceModelInfo { triangles: model.triangles, paths: model.paths });
                app.world_mut().resource_mut::<TrackerSlot>().idle = Some(Box::new(tracker));
                app.add_systems(Update, (collect_result, start_job).chain().in_set(FaceSystems));
            }
            Err(e) => error!("face tracking disabled: the bundled model failed to load: {e}"),
        }
    }
}

fn start_job(
    mut slot: ResMut<TrackerSlot>,
    latest: Res<LatestFrame>,
    settings: Res<FaceSettings>,
    mut inbox: ResMut<ResponseEngineInbox>,
) {
    if slot.job.is_some() {
        return;
    }
    if let (Some(engine), Some(tracker)) = (inbox.0.take(), slot.idle.as_mut()) {
        info!("face: patch responses now computed by {}", engine.name());
        tracker.fitter.set_engine(Some(engine));
    }
    if !settings.enabled {
        return;
    }
    let Some(frame) = latest.0.clone() else { return };
    if slot.last_seq == Some(frame.seq) {
        return;
    }
    let Some(mut tracker) = slot.idle.take() else { return };
    slot.last_seq = Some(frame.seq);
    let keep = settings.keep_responses;
    slot.started = Some(web_time::Instant::now());
    slot.job = Some(AsyncComputeTaskPool::get().spawn(async move {
        let t = web_time::Instant::now();
        let out = match Gray::from_rgba(frame.width as usize, frame.height as usize, &frame.rgba) {
            Some(g) => tracker.track(&g, Some(&frame.rgba)),
            None => TrackOutput::default(),
        };
        let ms = t.elapsed().as_secs_f32() * 1000.0;
        let responses = (keep && out.fit.is_some()).then(|| tracker.fitter.responses.clone());
        (tracker, out, ms, frame.seq, (frame.width, frame.height), responses)
    }));
}

fn collect_result(
    mut slot: ResMut<TrackerSlot>,
    mut tracking: ResMut<FaceTracking>,
    mut found: MessageWriter<FaceFound>,
    mut lost: MessageWriter<FaceLost>,
    time: Res<Time<Real>>,
) {
    let Some(job) = slot.job.as_mut() else { return };
    let Some((tracker, out, ms, seq, size, responses)) = block_on(poll_once(job)) else { return };
    slot.job = None;
    tracking.search = tracker.fitter.config.search;
    tracking.engine = tracker.fitter.engine_name();
    tracking.landmarks = tracker.landmarks();
    tracking.notice.clone_from(&tracker.notice);
    slot.idle = Some(tracker);
    for e in &out.events {
        match e {
            FaceEvent::Found => {
                found.write(FaceFound);
            }
            FaceEvent::Lost => {
                lost.write(FaceLost);
            }
        }
    }
    tracking.fit = out.fit;
    tracking.fallback_box = out.fallback_box;
    tracking.times = out.times;
    tracking.total_ms = ms;
    tracking.frames += 1;
    tracking.frame_seq = seq;
    tracking.frame_size = size;
    tracking.responses = responses;
    let now = time.elapsed();
    tracking.result_at = now;
    tracking.meter.tick(now);
    tracking.fps = tracking.meter.fps();
}

/// Where the patch responses run, decided at start-up on the app's render device: under
/// [`ComputeChoice::Auto`] both are measured ([`crate::gpu::measure`], on the task pool) and the
/// faster one goes to the tracker through [`ResponseEngineInbox`]. The tracker runs on the task
/// pool, so waiting for the kernel's readback never holds up a frame. Needs the render plugin.
pub struct GpuResponsesPlugin {
    pub choice: ComputeChoice,
}

/// What [`GpuResponsesPlugin`] found and decided (shown in Face Lab).
#[derive(Resource, Default, Debug, Clone)]
pub struct ResponseChoice {
    /// The adapter, described ("llvmpipe (…) (Vulkan, Cpu)").
    pub adapter: Option<String>,
    /// The decision, in words.
    pub words: String,
    /// Start-up measurement: CPU and GPU milliseconds for one frame's 71 response maps.
    pub measured_ms: Option<(f64, f64)>,
}

#[derive(Resource)]
struct ChoiceTask(Task<crate::gpu::Choice>);

impl Plugin for GpuResponsesPlugin {
    fn build(&self, app: &mut App) {
        let choice = self.choice;
        app.init_resource::<ResponseChoice>()
            .init_resource::<ResponseEngineInbox>()
            .add_systems(
                Startup,
                move |commands: Commands,
                      device: Option<Res<RenderDevice>>,
                      queue: Option<Res<RenderQueue>>,
                      info: Option<Res<RenderAdapterInfo>>,
                      status: ResMut<ResponseChoice>| {
                    start_choice(choice, commands, device, queue, info, status)
                },
            )
            .add_systems(Update, finish_choice.before(FaceSystems));
    }
}

fn start_choice(
    choice: ComputeChoice,
    mut commands: Commands,
    device: Option<Res<RenderDevice>>,
    queue: Option<Res<RenderQueue>>,
    info: Option<Res<RenderAdapterInfo>>,
    mut status: ResMut<ResponseChoice>,
) {
    let (Some(device), Some(queue), Some(info)) = (device, queue, info) else {
        status.words = "cpu (no GPU adapter)".into();
        return;
    };
    let described = headroom_gpu::context::describe(&info);
    status.adapter = Some(described.clone());
    if !headroom_gpu::has_compute(&device.limits()) {
        status.words = format!("cpu ({described} has no compute shaders)");
        return;
    }
    match choice {
        ComputeChoice::Cpu => status.words = "cpu (chosen by setting)".into(),
        // The engine waits for its readback inside the tracking job, which a browser cannot do.
        _ if cfg!(target_arch = "wasm32") => {
            status.words = "cpu (web build: GPU responses need a blocking readback)".into()
        }
        ComputeChoice::Gpu | ComputeChoice::Auto => {
            let gpu = headroom_gpu::Gpu::from_parts(device.wgpu_device(), &queue, &info);
            commands.insert_resource(ChoiceTask(
                AsyncComputeTaskPool::get().spawn(async move { crate::gpu::measure(gpu, choice) }),
            ));
            status.words = "measuring CPU vs GPU …".into();
        }
    }
}

fn finish_choice(
    mut commands: Commands,
    task: Option<ResMut<ChoiceTask>>,
    mut status: ResMut<ResponseChoice>,
    mut inbox: ResMut<ResponseEngineInbox>,
) {
    let Some(mut task) = task else { return };
    let Some(choice) = block_on(poll_once(&mut task.0)) else { return };
    commands.remove_resource::<ChoiceTask>();
    info!("face responses: {}", choice.words);
    status.words = choice.words;
    status.measured_ms = choice.measured_ms;
    if let Some(engine) = choice.engine {
        inbox.0 = Some(engine);
    }
}
