//! The gallery viewer (Bevy): every work a camera-facing textured quad, drawn as one merged mesh per
//! atlas (a few draw calls for thousands of works), the small tier far away and the large tier for
//! the works nearest the camera; fly/orbit navigation with the head-coupled off-axis window on top;
//! hover (outline drawn over everything) and click to open a work; search and filters that fade
//! the rest; five layouts with animated transitions (the fifth, the face map, shows the faces found
//! in the works as their own map); a period panel with typical works and
//! outliers. The logic lives in [`crate::view`]; this folder is glue, one room a concern: [`state`]
//! (the open gallery), [`load`], [`meshes`], [`navigate`], [`ui`], [`relayout`] (t-SNE live on the
//! render device), [`likeness`] ("painted faces like mine").

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::asset::RenderAssetUsages;
use bevy::camera::ClearColorConfig;
use bevy::camera::visibility::NoFrustumCulling;
use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::state::state::FreelyMutableState;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, EguiTextureHandle, egui};
use headroom_offaxis::OffAxisCamera;

use crate::manifest::{Manifest, PeriodKind};
use crate::view::{self, Filter, Layout, Quad, Transition};

mod likeness;
mod load;
mod meshes;
mod navigate;
mod relayout;
mod state;
mod ui;

use likeness::*;
use load::*;
use meshes::*;
use navigate::*;
use state::*;
pub use state::{Gallery, LiveRelayout};
use ui::*;

/// World units per centimetre of the physical screen (a thumbnail is 1 unit: ~10 cm on screen at
/// the screen plane).
const WORLD_PER_CM: f32 = 0.1;

/// Works nearest the camera drawn from the largest tier.
const NEAR_COUNT: usize = 160;

/// The manifest the gallery opens (`headroom gallery [MANIFEST|DIR]`); default: the bundled demo.
#[derive(Resource, Clone, Debug)]
pub struct GallerySource(pub PathBuf);

/// The bundled demo collection's manifest.
pub fn default_manifest() -> PathBuf {
    if cfg!(target_arch = "wasm32") {
        // Served beside the page.
        return PathBuf::from("assets/gallery/public-art/manifest.json");
    }
    crate::build::find_asset("gallery/public-art/manifest.json")
}

/// Why `MANIFEST|DIR` names no manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestPathError {
    #[error("{} has no manifest.json; build one first: headroom build-gallery {} --out OUT", .0.display(), .0.display())]
    NotBuilt(PathBuf),
    #[error("{}: no such manifest or folder", .0.display())]
    Missing(PathBuf),
}

/// Resolves `MANIFEST|DIR` to a manifest path (a folder must hold `manifest.json`).
pub fn resolve_manifest(p: &std::path::Path) -> Result<PathBuf, ManifestPathError> {
    if p.is_dir() {
        let m = p.join(crate::manifest::FILE_NAME);
        if m.exists() {
            return Ok(m);
        }
        return Err(ManifestPathError::NotBuilt(p.to_path_buf()));
    }
    if p.exists() { Ok(p.to_path_buf()) } else { Err(ManifestPathError::Missing(p.to_path_buf())) }
}

/// "Become this painting": a painted face the visitor chose to wear. The gallery only says so; the
/// app hands it to Face Lab's face swap.
#[derive(Message, Clone, Debug)]
pub struct BecomePainting(pub crate::likeness::PaintedFace);

/// Render the gallery into this image instead of the window (headless rendering, tests).
#[derive(Resource, Clone, Debug)]
pub struct GalleryRenderTarget(pub Handle<Image>);

/// The gallery viewer's systems (in `Update`): loading, flying, picking. Ordered after the head
/// stage by the app.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct GallerySystems;

pub struct GalleryPlugin<S: States> {
    pub screen: S,
}

impl<S: States + FreelyMutableState + Copy> Plugin for GalleryPlugin<S> {
    fn build(&self, app: &mut App) {
        let s = self.screen;
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        app.insert_gizmo_config(
            GalleryGizmos,
            GizmoConfig { depth_bias: -1.0, line: GizmoLineConfig { width: 3.0, ..default() }, ..default() },
        );
        if !app.world().contains_resource::<GallerySource>() {
            app.insert_resource(GallerySource(default_manifest()));
        }
        app.init_resource::<LiveRelayout>().init_resource::<Likeness>().add_message::<BecomePainting>();
        relayout::build(app);
        app.add_systems(
            OnEnter(s),
            move |commands: Commands, src: Res<GallerySource>, target: Option<Res<GalleryRenderTarget>>| {
                start_loading(commands, src, target, s)
            },
        )
        .add_systems(OnExit(s), |mut commands: Commands| {
            commands.remove_resource::<Gallery>();
            commands.remove_resource::<Loading>();
        })
        .add_systems(
            Update,
            (finish_loading, navigate, animate, update_meshes, hover, outline, update_likeness)
                .chain()
                .run_if(in_state(s))
                .in_set(GallerySystems),
        )
        .add_systems(EguiPrimaryContextPass, ui.run_if(in_state(s)));
    }
}
