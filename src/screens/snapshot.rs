//! Snapshots: a PNG of what the window shows (UI included), so people can keep what they made.
//! Native: saved to `$HEADROOM_SNAPSHOT_DIR`, else the user's Pictures folder, else the current
//! folder, as `headroom-<screen>-<unix ms>.png`; the browser downloads it instead.

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

/// Ask for a snapshot; the name says which screen it shows.
#[derive(Message, Clone, Debug)]
pub struct TakeSnapshot(pub &'static str);

/// What the last snapshot did: the file written, or why it failed.
#[derive(Resource, Default, Debug, Clone)]
pub struct SnapshotStatus {
    pub last: Option<Result<String, String>>,
    pub pending: bool,
}

pub const SNAPSHOT_DIR_ENV: &str = "HEADROOM_SNAPSHOT_DIR";

/// Where snapshots go, overriding the environment variable and the Pictures folder.
#[derive(Resource, Clone, Debug)]
pub struct SnapshotDir(pub std::path::PathBuf);

pub(super) fn plugin(app: &mut App) {
    app.add_message::<TakeSnapshot>().init_resource::<SnapshotStatus>().add_systems(Update, take);
}

fn take(
    mut requests: MessageReader<TakeSnapshot>,
    mut commands: Commands,
    offscreen: Option<Res<crate::app::OffscreenTarget>>,
    mut status: ResMut<SnapshotStatus>,
    dir: Option<Res<SnapshotDir>>,
) {
    let dir = dir.map(|d| d.0.clone());
    let Some(TakeSnapshot(screen)) = requests.read().last().cloned() else { return };
    if status.pending {
        return;
    }
    let shot = match offscreen {
        Some(t) => Screenshot::image(t.0.clone()),
        None => Screenshot::primary_window(),
    };
    status.pending = true;
    let stamp = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let name = format!("headroom-{screen}-{stamp}.png");
    let mut entity = commands.spawn(shot);
    #[cfg(target_arch = "wasm32")]
    entity.observe(bevy::render::view::screenshot::save_to_disk(name.clone()));
    entity.observe(move |captured: On<ScreenshotCaptured>, mut status: ResMut<SnapshotStatus>| {
        status.pending = false;
        status.last = Some(save(&captured.image, &name, dir.clone()));
    });
}

#[cfg(not(target_arch = "wasm32"))]
fn save(image: &Image, name: &str, dir: Option<std::path::PathBuf>) -> Result<String, String> {
    let dir = dir
        .or_else(|| std::env::var_os(SNAPSHOT_DIR_ENV).map(std::path::PathBuf::from))
        .or_else(|| directories::UserDirs::new().and_then(|d| d.picture_dir().map(|p| p.to_path_buf())))
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let path = dir.join(name);
    let rgb = image.clone().try_into_dynamic().map_err(|e| format!("cannot convert the frame: {e}"))?.to_rgb8();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Written beside, then renamed: a half-written PNG never carries the final name.
    let tmp = dir.join(format!(".{name}.tmp"));
    rgb.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// In the browser Bevy's `save_to_disk` (spawned beside) downloads the PNG.
#[cfg(target_arch = "wasm32")]
fn save(_image: &Image, name: &str, _dir: Option<std::path::PathBuf>) -> Result<String, String> {
    Ok(format!("downloaded as {name}"))
}
