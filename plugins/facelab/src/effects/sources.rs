//! Source faces: the bundled ones fitted at start, photos and faces in view added on request, all
//! on the task pool.

use super::*;

#[derive(Resource)]
pub(crate) struct LoadTask(pub(crate) Task<(Vec<SourceFace>, Vec<String>)>);

pub(crate) fn rgba_image(img: &Rgba) -> Image {
    let mut i = blank(img.width as u32, img.height as u32);
    i.data = Some(img.data.clone());
    i
}

pub(crate) fn start_loading(mut commands: Commands, mut faces: ResMut<SourceFaces>) {
    faces.loading = true;
    commands.insert_resource(LoadTask(AsyncComputeTaskPool::get().spawn(async move {
        let mut tracker = match default_tracker(TrackerConfig::default()) {
            Ok(t) => t,
            Err(e) => return (Vec::new(), vec![format!("no face tracker to fit the faces: {e}")]),
        };
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in SourceFace::bundled(&mut tracker) {
            match r {
                Ok(f) => ok.push(f),
                Err(e) => bad.push(e.to_string()),
            }
        }
        (ok, bad)
    })));
}

pub(crate) fn finish_loading(
    mut commands: Commands,
    task: Option<ResMut<LoadTask>>,
    mut faces: ResMut<SourceFaces>,
    mut images: ResMut<Assets<Image>>,
    mut effect: ResMut<LabEffect>,
) {
    let Some(mut task) = task else { return };
    let Some((ok, bad)) = block_on(poll_once(&mut task.0)) else { return };
    commands.remove_resource::<LoadTask>();
    faces.loading = false;
    for f in ok {
        info!("face lab: source face {} ({}×{})", f.name, f.image.width, f.image.height);
        faces.textures.push(images.add(rgba_image(&f.image)));
        faces.faces.push(Arc::new(f));
    }
    for b in bad {
        warn!("face lab: {b}");
        faces.problems.push(b);
    }
    if let Some(want) = effect.want_source.take() {
        let w = want.to_lowercase();
        match faces.faces.iter().position(|f| f.name.to_lowercase().contains(&w)) {
            Some(i) => effect.source = i,
            None => faces.problems.push(format!("no bundled face called {want:?}")),
        }
    }
}

#[allow(clippy::type_complexity)]
pub(crate) fn add_photo(
    mut requests: MessageReader<AddPhoto>,
    (mut take, latest, tracking, mut ready): (
        MessageReader<TakeFaceInView>,
        Res<LatestFrame>,
        Option<Res<FaceTracking>>,
        MessageReader<UseFace>,
    ),
    mut pending: Local<Vec<Task<Result<SourceFace, String>>>>,
    mut faces: ResMut<SourceFaces>,
    mut effect: ResMut<LabEffect>,
    mut images: ResMut<Assets<Image>>,
) {
    for AddPhoto(path) in requests.read() {
        let path = path.clone();
        pending.push(AsyncComputeTaskPool::get().spawn(async move {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut tracker = default_tracker(TrackerConfig::default()).map_err(|e| e.to_string())?;
            SourceFace::from_photo(&name, &bytes, &mut tracker).map_err(|e: FaceError| e.to_string())
        }));
    }
    for UseFace(f) in ready.read() {
        if f.points.len() != 71 || f.image.width == 0 || f.image.height == 0 {
            faces.problems.push(format!("{}: not a face with 71 points", f.name));
            continue;
        }
        // The same face again (chosen twice): select it rather than add a copy.
        if let Some(i) = faces.faces.iter().position(|g| g.name == f.name && g.points == f.points) {
            effect.source = i;
            continue;
        }
        info!("face lab: using {} ({}×{})", f.name, f.image.width, f.image.height);
        faces.textures.push(images.add(rgba_image(&f.image)));
        faces.faces.push(Arc::new(f.clone()));
        effect.source = faces.faces.len() - 1;
    }
    if take.read().last().is_some() {
        match latest.0.as_ref().and_then(|f| Rgba::from_raw(f.width as usize, f.height as usize, f.rgba.to_vec())) {
            Some(frame) => {
                let tracked = tracking
                    .and_then(|t| t.fit.as_ref().map(|f| f.face_box))
                    .map(|b| [b.x as f32, b.y as f32, (b.x + b.w) as f32, (b.y + b.h) as f32]);
                let n = faces.faces.len() + 1;
                pending.push(AsyncComputeTaskPool::get().spawn(async move {
                    let detector = headroom_face::nn::BlazeFace::new().map_err(|e| e.to_string())?;
                    let mut tracker = default_tracker(TrackerConfig::default()).map_err(|e| e.to_string())?;
                    let name = format!("Face in view ({n})");
                    crate::faces::other_face_in_frame(&frame, tracked, &detector, &mut tracker, &name)
                        .map(|(f, _)| f)
                        .map_err(|e| e.to_string())
                }));
            }
            None => faces.problems.push("no frame yet".into()),
        }
    }
    if faces.problems.len() > 4 {
        let n = faces.problems.len() - 4;
        faces.problems.drain(..n);
    }
    let mut i = 0;
    while i < pending.len() {
        match block_on(poll_once(&mut pending[i])) {
            None => i += 1,
            Some(result) => {
                drop(pending.swap_remove(i));
                match result {
                    Ok(f) => {
                        info!("face lab: added {} ({}×{})", f.name, f.image.width, f.image.height);
                        faces.textures.push(images.add(rgba_image(&f.image)));
                        faces.faces.push(Arc::new(f));
                        effect.source = faces.faces.len() - 1;
                    }
                    Err(e) => {
                        warn!("face lab: {e}");
                        faces.problems.push(e);
                    }
                }
            }
        }
    }
}
