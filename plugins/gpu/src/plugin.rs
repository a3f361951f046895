//! Bevy glue. Two consumers of the kernels inside the app, both on the app's own render device:
//!
//! - **Face patch responses**: at start-up the plugin measures the CPU reference and the GPU
//!   kernel on real patches (the demo clip's face) and, under [`ComputeChoice::Auto`], hands the
//!   faster one to the face tracker ([`ResponseEngineInbox`]). The tracker runs on the task pool,
//!   so waiting for that readback never holds up a frame.
//! - **Live relayout** in the gallery viewer: t-SNE iterations are dispatched by a system in the
//!   `RenderGraph` schedule (a few per frame, into the frame's own command encoder), the
//!   positions are copied into a [`ShaderBuffer`] read back asynchronously with Bevy's
//!   [`Readback`]; the viewer shows the newest positions as they arrive ([`ReadbackComplete`]
//!   observer), so the map forms on screen without a frame ever waiting for the GPU.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::BufferUsages;
use bevy::render::renderer::{RenderAdapterInfo, RenderContext, RenderDevice, RenderGraph, RenderQueue};
use bevy::render::storage::{GpuShaderBuffer, ShaderBuffer};
use bevy::render::{RenderApp, RenderStartup};
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use headroom_face::{ResponseEngine, ResponseEngineInbox};
use headroom_gallery::tsne::{self, Affinities, Matrix, TsneConfig};
use headroom_gallery::{Gallery, LiveRelayout};

use crate::context::Gpu;
use crate::kernel::Kernel;
use crate::tsne::TsneRun;

/// Where a kernel runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeChoice {
    /// Whichever measured faster on this machine at start-up.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

impl std::str::FromStr for ComputeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ComputeChoice::Auto),
            "cpu" => Ok(ComputeChoice::Cpu),
            "gpu" => Ok(ComputeChoice::Gpu),
            _ => Err(format!("expected auto, cpu or gpu, not {s:?}")),
        }
    }
}

pub struct GpuPlugin {
    /// Where the face tracker's patch responses run.
    pub face_responses: ComputeChoice,
}

/// What the plugin found and decided (shown in Face Lab).
#[derive(Resource, Default, Debug, Clone)]
pub struct GpuStatus {
    pub adapter: Option<String>,
    /// The decision for face responses, in words.
    pub face_responses: String,
    /// Start-up measurement: CPU and GPU milliseconds for one frame's 71 response maps.
    pub measured_ms: Option<(f64, f64)>,
}

type Choice = (Option<Box<dyn ResponseEngine>>, String, Option<(f64, f64)>);

#[derive(Resource)]
struct ChoiceTask(Task<Choice>);

/// Shared between the main and the render world.
#[derive(Resource, Clone, Default)]
struct LiveChannel(Arc<Mutex<LiveShared>>);

#[derive(Default)]
struct LiveShared {
    job: Option<LiveJob>,
}

struct LiveJob {
    p: Affinities,
    init: Matrix,
    cfg: TsneConfig,
    target: Handle<ShaderBuffer>,
}

/// Render world: the run in progress.
#[derive(Resource, Default)]
struct LiveRender {
    kernel: Option<Kernel>,
    run: Option<TsneRun>,
    target: Option<Handle<ShaderBuffer>>,
}

/// Main world: the readback entity and the newest positions.
#[derive(Resource, Default)]
struct LiveLatest {
    entity: Option<Entity>,
    n: usize,
    positions: Option<(usize, Vec<[f32; 3]>)>,
    /// Wall-clock seconds (`Time<Real>`) when the run started (for the log lines).
    started: f32,
}

/// Iterations dispatched per rendered frame.
const LIVE_ITERATIONS_PER_FRAME: usize = 5;

impl Plugin for GpuPlugin {
    fn build(&self, app: &mut App) {
        let choice = self.face_responses;
        let channel = LiveChannel::default();
        app.init_resource::<GpuStatus>()
            .init_resource::<LiveRelayout>()
            .init_resource::<LiveLatest>()
            .insert_resource(channel.clone())
            .add_systems(
                Startup,
                move |commands: Commands,
                      device: Option<Res<RenderDevice>>,
                      queue: Option<Res<RenderQueue>>,
                      info: Option<Res<RenderAdapterInfo>>,
                      status: ResMut<GpuStatus>,
                      live: ResMut<LiveRelayout>| {
                    start_choice(choice, commands, device, queue, info, status, live)
                },
            )
            .add_systems(Update, (finish_choice, start_live_relayout, apply_live_positions));
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app
                .insert_resource(channel)
                .init_resource::<LiveRender>()
                .add_systems(RenderStartup, |mut r: ResMut<LiveRender>, device: Res<RenderDevice>| {
                    if has_compute(&device) {
                        r.kernel = Some(crate::tsne::kernel(device.wgpu_device()));
                    }
                })
                .add_systems(RenderGraph, live_tsne_step);
        }
    }
}

/// Whether the device runs our compute kernels (WebGL2 and other downlevel devices do not).
pub fn has_compute(device: &RenderDevice) -> bool {
    let l = device.limits();
    l.max_compute_workgroup_size_x >= 256
        && l.max_compute_invocations_per_workgroup >= 256
        && l.max_storage_buffers_per_shader_stage >= 8
}

fn app_gpu(device: &RenderDevice, queue: &RenderQueue, info: &RenderAdapterInfo) -> Gpu {
    let q: &wgpu::Queue = queue;
    Gpu { device: device.wgpu_device().clone(), queue: q.clone(), info: (***info).clone() }
}

fn start_choice(
    choice: ComputeChoice,
    mut commands: Commands,
    device: Option<Res<RenderDevice>>,
    queue: Option<Res<RenderQueue>>,
    info: Option<Res<RenderAdapterInfo>>,
    mut status: ResMut<GpuStatus>,
    mut live: ResMut<LiveRelayout>,
) {
    let (Some(device), Some(queue), Some(info)) = (device, queue, info) else {
        status.face_responses = "cpu (no GPU adapter)".into();
        return;
    };
    let described = crate::context::describe(&info);
    status.adapter = Some(described.clone());
    if !has_compute(&device) {
        status.face_responses = format!("cpu ({described} has no compute shaders)");
        return;
    }
    live.available = Some(format!("GPU: {}", crate::context::adapter_name(&info)));
    match choice {
        ComputeChoice::Cpu => status.face_responses = "cpu (chosen by setting)".into(),
        // The engine waits for its readback inside the tracking job, which a browser cannot do.
        _ if cfg!(target_arch = "wasm32") => {
            status.face_responses = "cpu (web build: GPU responses need a blocking readback)".into()
        }
        ComputeChoice::Gpu | ComputeChoice::Auto => {
            let gpu = app_gpu(&device, &queue, &info);
            commands
                .insert_resource(ChoiceTask(AsyncComputeTaskPool::get().spawn(async move { measure(gpu, choice) })));
            status.face_responses = "measuring CPU vs GPU …".into();
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn measure(_gpu: Gpu, _choice: ComputeChoice) -> Choice {
    (None, "cpu".into(), None)
}

/// Times one frame's 71 response maps on the CPU and on the GPU, on patches sampled where the
/// tracker fits the demo clip's face, and picks per `choice`.
#[cfg(not(target_arch = "wasm32"))]
fn measure(gpu: Gpu, choice: ComputeChoice) -> Choice {
    use crate::responses::GpuResponses;
    use std::time::Instant;
    let name = crate::context::adapter_name(&gpu.info);
    let mut engine = GpuResponses::new(gpu);
    let result = (|| -> Result<(f64, f64), String> {
        let mut tracker = headroom_face::default_tracker(headroom_face::TrackerConfig::clm())?;
        let mut video = headroom_capture::VideoSource::from_bytes(headroom_capture::DEMO_CLIP.to_vec(), "demo")
            .map_err(|e| e.to_string())?;
        let mut params = None;
        let mut gray = None;
        for _ in 0..5 {
            let Some(f) = video.next_frame().map_err(|e| e.to_string())? else { break };
            let g = headroom_face::Gray::from_rgba(f.width as usize, f.height as usize, &f.rgba).ok_or("bad frame")?;
            if let Some(fit) = tracker.track(&g, Some(&f.rgba)).fit {
                params = Some(fit.params);
            }
            gray = Some(g);
        }
        let (Some(p), Some(g)) = (params, gray) else { return Err("no face in the demo clip".into()) };
        tracker.fitter.sample_patches(&g, &p);
        let time = |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
            f()?;
            let mut t = Vec::new();
            for _ in 0..15 {
                let s = Instant::now();
                f()?;
                t.push(s.elapsed().as_secs_f64() * 1000.0);
            }
            t.sort_by(f64::total_cmp);
            Ok(t[t.len() / 2])
        };
        let cpu = time(&mut || {
            tracker.fitter.compute_responses_cpu();
            Ok(())
        })?;
        let search = tracker.fitter.config.search;
        let cfg = tracker.fitter.config.response;
        let mut out = vec![0.0f32; tracker.fitter.responses.len()];
        let gpu_ms = time(&mut || {
            engine
                .run(tracker.fitter.experts(), tracker.fitter.patches(), search, cfg, &mut out)
                .map_err(|e| e.to_string())
        })?;
        Ok((cpu, gpu_ms))
    })();
    match (result, choice) {
        (Ok((cpu, g)), ComputeChoice::Auto) if g < cpu => {
            (Some(Box::new(engine)), format!("gpu ({name}): {g:.2} ms vs CPU {cpu:.2} ms per frame"), Some((cpu, g)))
        }
        (Ok((cpu, g)), ComputeChoice::Auto) => {
            (None, format!("cpu: {cpu:.2} ms vs GPU ({name}) {g:.2} ms per frame"), Some((cpu, g)))
        }
        (Ok((cpu, g)), _) => {
            (Some(Box::new(engine)), format!("gpu ({name}, by setting): {g:.2} ms vs CPU {cpu:.2} ms"), Some((cpu, g)))
        }
        (Err(e), _) => (None, format!("cpu (GPU responses failed: {e})"), None),
    }
}

fn finish_choice(
    mut commands: Commands,
    task: Option<ResMut<ChoiceTask>>,
    mut status: ResMut<GpuStatus>,
    inbox: Option<ResMut<ResponseEngineInbox>>,
) {
    let Some(mut task) = task else { return };
    let Some((engine, words, measured)) = block_on(poll_once(&mut task.0)) else { return };
    commands.remove_resource::<ChoiceTask>();
    info!("face responses: {words}");
    status.face_responses = words;
    status.measured_ms = measured;
    if let (Some(engine), Some(mut inbox)) = (engine, inbox) {
        inbox.0 = Some(engine);
    }
}

/// Joint affinities from the manifest's similar-works lists (uniform kNN affinities, as
/// openTSNE's `affinity.Uniform`): the build's features are not shipped with a collection.
pub fn affinities_from_similar(similar: &[Vec<u32>]) -> Affinities {
    let n = similar.len();
    let cond: Vec<Vec<(u32, f32)>> = similar
        .iter()
        .map(|s| {
            let s: Vec<u32> = s.iter().copied().filter(|&j| (j as usize) < n).collect();
            let w = 1.0 / s.len().max(1) as f32;
            s.into_iter().map(|j| (j, w)).collect()
        })
        .collect();
    tsne::joint_affinities(&cond)
}

fn start_live_relayout(
    mut commands: Commands,
    mut live: ResMut<LiveRelayout>,
    gallery: Option<Res<Gallery>>,
    channel: Res<LiveChannel>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
    mut latest: ResMut<LiveLatest>,
    time: Res<Time<bevy::time::Real>>,
) {
    if !live.requested {
        return;
    }
    live.requested = false;
    let Some(g) = gallery else { return };
    let n = g.manifest.works.len();
    if n < 4 || live.running {
        return;
    }
    let similar: Vec<Vec<u32>> = g.manifest.works.iter().map(|w| w.similar.clone()).collect();
    let p = affinities_from_similar(&similar);
    // A tiny random start (deterministic), so the whole formation is visible.
    let mut rng = {
        use rand::SeedableRng;
        rand::rngs::StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15)
    };
    let init = Matrix::new(n, 3, (0..n * 3).map(|_| (rand::RngExt::random::<f32>(&mut rng) - 0.5) * 1e-2).collect());
    let cfg = TsneConfig { dims: 3, early_iters: 250, iters: 500, ..Default::default() };
    let mut buffer = ShaderBuffer::from(vec![0u32; n * 4 + 4]);
    buffer.buffer_description.usage |= BufferUsages::COPY_SRC | BufferUsages::COPY_DST;
    let target = buffers.add(buffer);
    live.running = true;
    live.iteration = 0;
    live.total = cfg.early_iters + cfg.iters;
    if let Some(old) = latest.entity.take() {
        commands.entity(old).despawn();
    }
    let entity = commands
        .spawn(Readback::buffer(target.clone()))
        .observe(|ev: On<ReadbackComplete>, mut latest: ResMut<LiveLatest>| {
            let n = latest.n;
            if ev.data.len() < n * 16 + 4 {
                return;
            }
            let v: Vec<f32> =
                ev.data[..n * 16].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            let it =
                u32::from_le_bytes([ev.data[n * 16], ev.data[n * 16 + 1], ev.data[n * 16 + 2], ev.data[n * 16 + 3]])
                    as usize;
            if it == 0 || latest.positions.as_ref().is_some_and(|(old, _)| *old > it) {
                return;
            }
            latest.positions = Some((it, v.chunks_exact(4).map(|c| [c[0], c[1], c[2]]).collect()));
        })
        .id();
    latest.entity = Some(entity);
    latest.n = n;
    latest.positions = None;
    latest.started = time.elapsed_secs();
    info!("gallery: live relayout started: {n} works, {} t-SNE iterations on the GPU", live.total);
    if let Ok(mut shared) = channel.0.lock() {
        shared.job = Some(LiveJob { p, init, cfg, target });
    }
}

fn apply_live_positions(
    mut commands: Commands,
    mut live: ResMut<LiveRelayout>,
    gallery: Option<ResMut<Gallery>>,
    mut latest: ResMut<LiveLatest>,
    time: Res<Time<bevy::time::Real>>,
) {
    let Some((it, pos)) = latest.positions.take() else { return };
    let secs = time.elapsed_secs() - latest.started;
    if live.iteration == 0 {
        let finite = pos.iter().filter(|p| p.iter().all(|c| c.is_finite())).count();
        info!(
            "gallery: live relayout: first positions after {it} iterations ({secs:.1} s), {finite} of {} finite",
            pos.len()
        );
    }
    if it / 100 > live.iteration / 100 && it < live.total {
        info!("gallery: live relayout: progress {it} of {} iterations ({secs:.1} s)", live.total);
    }
    live.iteration = it;
    if let Some(mut g) = gallery {
        g.show_live_positions(pos);
    }
    if it >= live.total {
        info!("gallery: live relayout done: {it} iterations in {secs:.1} s");
        live.running = false;
        if let Some(e) = latest.entity.take() {
            commands.entity(e).despawn();
        }
    }
}

/// In the `RenderGraph` schedule: a few t-SNE iterations into this frame's command encoder, then
/// the positions (and the iteration count after them) into the readback buffer.
fn live_tsne_step(
    mut ctx: RenderContext,
    channel: Res<LiveChannel>,
    mut state: ResMut<LiveRender>,
    buffers: Res<RenderAssets<GpuShaderBuffer>>,
    queue: Res<RenderQueue>,
) {
    let state = &mut *state;
    if let Some(job) = channel.0.lock().ok().and_then(|mut s| s.job.take())
        && let Some(kernel) = state.kernel.as_ref()
    {
        match TsneRun::new(ctx.render_device().wgpu_device(), kernel, &job.p, &job.init, &job.cfg) {
            Ok(run) => {
                state.run = Some(run);
                state.target = Some(job.target);
            }
            Err(e) => error!("live relayout: {e}"),
        }
    }
    let (Some(run), Some(kernel), Some(handle)) = (state.run.as_mut(), state.kernel.as_ref(), state.target.as_ref())
    else {
        return;
    };
    // The readback buffer is uploaded by the asset system; wait for it.
    let Some(target) = buffers.get(handle) else { return };
    let q: &wgpu::Queue = &queue;
    let enc = ctx.command_encoder();
    run.encode_batch(kernel, q, enc, LIVE_ITERATIONS_PER_FRAME);
    let bytes = (run.n * 16) as u64;
    enc.copy_buffer_to_buffer(run.positions_buffer(), 0, &target.buffer, 0, bytes);
    q.write_buffer(&target.buffer, bytes, &(run.iteration as u32).to_le_bytes());
    if run.iteration >= run.total_iterations() {
        state.run = None;
    }
}
