//! Live relayout of the open collection on the app's render device: t-SNE iterations (headroom-gpu's
//! kernel, set up by [`crate::map::gpu::gpu_run`]) are dispatched by a system in the `RenderGraph`
//! schedule (a few per frame, into the frame's own command encoder), the positions copied into a
//! [`ShaderBuffer`] read back asynchronously with Bevy's [`Readback`]; the viewer shows the newest
//! positions as they arrive ([`ReadbackComplete`] observer), so the map forms on screen without a
//! frame ever waiting for the GPU. Offered ([`LiveRelayout::available`]) when the device runs
//! compute shaders.

use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::BufferUsages;
use bevy::render::renderer::{RenderAdapterInfo, RenderContext, RenderDevice, RenderGraph, RenderQueue};
use bevy::render::storage::{GpuShaderBuffer, ShaderBuffer};
use bevy::render::{RenderApp, RenderStartup};
use headroom_gpu::kernel::Kernel;
use headroom_gpu::tsne::TsneRun;

use super::state::{Gallery, LiveRelayout};
use crate::map::{self, Affinities, Matrix, TsneConfig};

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

/// Adds the live relayout to an app that renders (nothing without a render sub-app).
pub(crate) fn build(app: &mut App) {
    if app.get_sub_app(RenderApp).is_none() {
        return;
    }
    let channel = LiveChannel::default();
    app.init_resource::<LiveLatest>()
        .insert_resource(channel.clone())
        .add_systems(Startup, offer)
        .add_systems(Update, (start_live_relayout, apply_live_positions).chain());
    if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
        render_app
            .insert_resource(channel)
            .init_resource::<LiveRender>()
            .add_systems(RenderStartup, |mut r: ResMut<LiveRender>, device: Res<RenderDevice>| {
                if headroom_gpu::has_compute(&device.limits()) {
                    r.kernel = Some(headroom_gpu::tsne::kernel(device.wgpu_device()));
                }
            })
            .add_systems(RenderGraph, live_tsne_step);
    }
}

fn offer(mut live: ResMut<LiveRelayout>, device: Option<Res<RenderDevice>>, info: Option<Res<RenderAdapterInfo>>) {
    if let (Some(device), Some(info)) = (device, info)
        && headroom_gpu::has_compute(&device.limits())
    {
        live.available = Some(format!("GPU: {}", headroom_gpu::context::adapter_name(&info)));
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
    map::joint_affinities(&cond)
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
        match map::gpu::gpu_run(ctx.render_device().wgpu_device(), kernel, &job.p, &job.init, &job.cfg) {
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
    let q: &headroom_gpu::wgpu::Queue = &queue;
    let enc = ctx.command_encoder();
    run.encode_batch(kernel, q, enc, LIVE_ITERATIONS_PER_FRAME);
    let bytes = (run.n * 16) as u64;
    enc.copy_buffer_to_buffer(run.positions_buffer(), 0, &target.buffer, 0, bytes);
    q.write_buffer(&target.buffer, bytes, &(run.iteration as u32).to_le_bytes());
    if run.iteration >= run.total_iterations() {
        state.run = None;
    }
}
