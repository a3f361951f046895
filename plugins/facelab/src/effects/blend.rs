//! Face swap: a blend per tracked frame — warp and set-up on the task pool, the sweeps there or
//! as the Poisson kernel in the render graph, two textures written in turn, the blend's own frame
//! shown under it.

use super::*;

pub(crate) struct BlendDone {
    pub(crate) blend: Option<Blend>,
    pub(crate) rgba: Option<Vec<u8>>,
    pub(crate) ms: f32,
}

/// The last few frames, so a fit (which arrives after its frame) is blended into its own frame.
#[derive(Resource, Default)]
pub(crate) struct RecentFrames(pub(crate) std::collections::VecDeque<headroom_capture::Frame>);

pub(crate) fn keep_frames(latest: Res<LatestFrame>, mut recent: ResMut<RecentFrames>, effect: Res<LabEffect>) {
    if effect.effect != Effect::Substitute {
        recent.0.clear();
        return;
    }
    let Some(f) = latest.0.as_ref() else { return };
    if recent.0.back().is_some_and(|b| b.seq == f.seq) {
        return;
    }
    recent.0.push_back(f.clone());
    while recent.0.len() > 8 {
        recent.0.pop_front();
    }
}

#[derive(Resource, Default)]
pub(crate) struct BlendTask {
    pub(crate) task: Option<Task<BlendDone>>,
    /// The frame of the blend in flight on the task pool.
    pub(crate) in_flight: Option<headroom_capture::Frame>,
    /// The blend on its way through the GPU.
    pub(crate) on_gpu: Option<Shown>,
    /// The texture slot the next blend is written into.
    pub(crate) next: usize,
    pub(crate) last_seq: Option<u64>,
    pub(crate) finished: Vec<f32>,
}

/// Whether the render device can run the kernel (set at start-up).
#[derive(Resource, Clone, Default)]
pub(crate) struct GpuBlend(pub(crate) Arc<Mutex<GpuShared>>);

#[derive(Default)]
pub(crate) struct GpuShared {
    /// The adapter, when it runs the kernel, and whether it is a software one.
    pub(crate) available: Option<(String, bool)>,
    pub(crate) job: Option<(Blend, AssetId<Image>)>,
    /// Frames the job waited for its texture to be uploaded at the new size.
    pub(crate) waited: u32,
    /// Whether the render world wrote the job into its texture (`false`: dropped).
    pub(crate) result: Option<bool>,
}

#[derive(Resource, Default)]
pub(crate) struct GpuBlendRender {
    pub(crate) kernel: Option<Kernel>,
    pub(crate) run: Option<GpuPoisson>,
}

pub(crate) fn make_blend_image(mut commands: Commands, mut images: ResMut<Assets<Image>>) {
    let textures = [images.add(blank(64, 8)), images.add(blank(64, 8))];
    let frame = images.add(blank(8, 8));
    commands.insert_resource(BlendView {
        image: textures[0].clone(),
        textures,
        rect: None,
        engine: String::new(),
        prepare_ms: 0.0,
        fps: 0.0,
        blends: 0,
        frame_seq: 0,
        error: None,
        texture_size: [64, 8],
        frame,
    });
}

pub(crate) use headroom_capture::blank_image as blank;

/// Starts a blend for the newest fit when none is in flight.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_blend(
    tracking: Option<Res<FaceTracking>>,
    info: Option<Res<FaceModelInfo>>,
    recent: Res<RecentFrames>,
    effect: Res<LabEffect>,
    faces: Res<SourceFaces>,
    shared: Res<GpuBlend>,
    mut task: ResMut<BlendTask>,
    view: Option<ResMut<BlendView>>,
) {
    let Some(mut view) = view else { return };
    if effect.effect != Effect::Substitute {
        if view.rect.is_some() {
            view.rect = None;
        }
        return;
    }
    let (Some(t), Some(info)) = (tracking, info) else { return };
    if task.task.is_some() || task.on_gpu.is_some() || task.last_seq == Some(t.frame_seq) {
        return;
    }
    let Some(fit) = t.fit.as_ref() else {
        view.rect = None;
        return;
    };
    let Some(source) = faces.faces.get(effect.source).cloned() else { return };
    // The fit belongs to frame `frame_seq`, which the newest frame may already have replaced.
    let Some(frame) = recent.0.iter().rev().find(|f| f.seq == t.frame_seq && (f.width, f.height) == t.frame_size)
    else {
        return;
    };
    task.last_seq = Some(t.frame_seq);
    task.in_flight = Some(frame.clone());
    let available = shared.0.lock().ok().and_then(|s| s.available.clone());
    let gpu = match (effect.blend_on, available) {
        (BlendOn::Gpu, Some(_)) => true,
        (BlendOn::Auto, Some((_, software))) => !software,
        _ => false,
    };
    let (w, h, rgba) = (frame.width as usize, frame.height as usize, frame.rgba.clone());
    let points = fit.points.clone();
    let triangles = info.triangles.clone();
    task.task = Some(AsyncComputeTaskPool::get().spawn(async move {
        let start = Instant::now();
        let Some(frame) = Rgba::from_raw(w, h, rgba.to_vec()) else {
            return BlendDone { blend: None, rgba: None, ms: 0.0 };
        };
        let blend = prepare_blend(&frame, &points, &source, &triangles, ERODE, if gpu { 64 } else { 1 });
        let rgba = match (&blend, gpu) {
            (Some(b), false) => {
                let mut h = b.start.clone();
                poisson::sor(b.problem.width, &b.problem.mask, &mut h, SWEEPS, poisson::OMEGA);
                Some(poisson::compose(&b.problem, &h))
            }
            _ => None,
        };
        BlendDone { blend, rgba, ms: start.elapsed().as_secs_f32() * 1000.0 }
    }));
}

pub(crate) fn finish_blend(
    mut task: ResMut<BlendTask>,
    view: Option<ResMut<BlendView>>,
    mut images: ResMut<Assets<Image>>,
    shared: Res<GpuBlend>,
    time: Res<Time<bevy::time::Real>>,
    effect: Res<LabEffect>,
) {
    let Some(mut view) = view else { return };
    let Some(t) = task.task.as_mut() else { return };
    let Some(done) = block_on(poll_once(t)) else { return };
    task.task = None;
    // Face swap was switched off while this blend was being made: nothing to show.
    if effect.effect != Effect::Substitute {
        task.in_flight = None;
        return;
    }
    let now = time.elapsed_secs();
    task.finished.push(now);
    task.finished.retain(|&s| now - s < 2.0);
    view.fps = if task.finished.len() > 1 {
        (task.finished.len() - 1) as f32 / (now - task.finished[0]).max(1e-3)
    } else {
        0.0
    };
    view.prepare_ms = done.ms;
    let frame = task.in_flight.take();
    let (Some(blend), Some(frame)) = (done.blend, frame) else {
        view.rect = None;
        return;
    };
    // Two textures: the next blend is written into the one not on screen.
    let slot = task.next;
    let handle = view.textures[slot].clone();
    let (w, h) = (blend.rect.width as u32, blend.rect.height as u32);
    // A texture only grows (or shrinks when far too big), so a face that moves does not make
    // the asset system re-create it every frame.
    let Some(current) = images.get(&handle).map(|i| i.texture_descriptor.size) else { return };
    let (tw, th) = (current.width, current.height);
    let size = if w <= tw && h <= th && tw * th <= 4 * w * h {
        [tw, th]
    } else {
        let size = [(w * 5 / 4).next_multiple_of(64), (h * 5 / 4).next_multiple_of(16)];
        if let Some(mut img) = images.get_mut(&handle) {
            *img = blank(size[0], size[1]);
        }
        size
    };
    let shown = Shown { slot, rect: blend.rect, size, frame };
    match done.rgba {
        Some(rgba) => {
            let Some(mut img) = images.get_mut(&handle) else { return };
            let mut data = vec![0u8; (size[0] * size[1] * 4) as usize];
            let row = (w * 4) as usize;
            for (y, src) in rgba.chunks_exact(row).enumerate() {
                let at = y * (size[0] * 4) as usize;
                data[at..at + row].copy_from_slice(src);
            }
            img.data = Some(data);
            drop(img);
            view.engine = "cpu".into();
            show(&mut view, &mut task, &mut images, shown);
        }
        None => {
            view.engine = "gpu".into();
            task.on_gpu = Some(shown);
            if let Ok(mut s) = shared.0.lock() {
                s.job = Some((blend, handle.id()));
                s.waited = 0;
                s.result = None;
            }
        }
    }
}

/// A finished blend waiting to be shown: its texture slot, where it goes, the texture's size and
/// the frame it was made in.
pub(crate) struct Shown {
    pub(crate) slot: usize,
    pub(crate) rect: PixelRect,
    pub(crate) size: [u32; 2],
    pub(crate) frame: headroom_capture::Frame,
}

pub(crate) fn show(view: &mut BlendView, task: &mut BlendTask, images: &mut Assets<Image>, s: Shown) {
    view.image = view.textures[s.slot].clone();
    view.rect = Some(s.rect);
    view.texture_size = s.size;
    view.frame_seq = s.frame.seq;
    view.blends += 1;
    if view.blends == 1 {
        info!("face lab: face swap: first blend ({}×{}, sweeps on the {})", s.rect.width, s.rect.height, view.engine);
    }
    headroom_capture::publish_image(images, &view.frame, &s.frame);
    task.next = 1 - s.slot;
}

/// The GPU path's blend, once the render world has written it into its texture. Until then no
/// new blend starts, so the texture on screen is never the one being written.
pub(crate) fn show_gpu_blend(
    shared: Res<GpuBlend>,
    view: Option<ResMut<BlendView>>,
    effect: Res<LabEffect>,
    mut task: ResMut<BlendTask>,
    mut images: ResMut<Assets<Image>>,
) {
    let Some(mut view) = view else { return };
    let Some(written) = shared.0.lock().ok().and_then(|mut s| s.result.take()) else { return };
    let Some(shown) = task.on_gpu.take() else { return };
    if written && effect.effect == Effect::Substitute {
        show(&mut view, &mut task, &mut images, shown);
    }
}

/// In the `RenderGraph` schedule: the sweeps and the compose into this frame's encoder, then
/// the result copied into the blend's texture.
pub(crate) fn gpu_blend_step(
    mut ctx: RenderContext,
    shared: Res<GpuBlend>,
    mut state: ResMut<GpuBlendRender>,
    images: Res<RenderAssets<GpuImage>>,
    queue: Res<RenderQueue>,
) {
    let Ok(mut s) = shared.0.lock() else { return };
    let Some((blend, id)) = s.job.take() else { return };
    let state = &mut *state;
    let Some(kernel) = state.kernel.as_ref() else { return };
    let (w, h) = (blend.rect.width, blend.rect.height);
    // A grown texture is re-created by the asset system; wait for it (a frame or two).
    let Some(target) = images.get(id).filter(|g| g.texture.width() >= w as u32 && g.texture.height() >= h as u32)
    else {
        s.waited += 1;
        if s.waited < 10 {
            s.job = Some((blend, id));
        } else {
            s.result = Some(false);
        }
        return;
    };
    let device = ctx.render_device().wgpu_device().clone();
    if state.run.as_ref().is_none_or(|r| r.size() != (w, h)) {
        state.run = Some(GpuPoisson::new(&device, kernel, w, h));
    }
    let Some(run) = state.run.as_ref() else { return };
    let q: &wgpu::Queue = &queue;
    let enc = ctx.command_encoder();
    if let Err(e) = run.encode(kernel, q, enc, &blend.problem, &blend.start, SWEEPS) {
        error!("face swap: {e}");
        s.result = Some(false);
        return;
    }
    enc.copy_buffer_to_texture(
        wgpu::TexelCopyBufferInfo {
            buffer: run.output(),
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w as u32 * 4),
                rows_per_image: Some(h as u32),
            },
        },
        wgpu::TexelCopyTextureInfo {
            texture: &target.texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::Extent3d { width: w as u32, height: h as u32, depth_or_array_layers: 1 },
    );
    s.result = Some(true);
}
