//! The open gallery and its markers.

use super::*;

/// Camera flight to a work.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flight {
    pub(crate) from: Vec3,
    pub(crate) to: Vec3,
    pub(crate) t: f32,
}

/// The open gallery.
#[derive(Resource)]
pub struct Gallery {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub layout: Layout,
    pub positions: Vec<[f32; 3]>,
    pub(crate) transition: Option<Transition>,
    pub filter: Filter,
    pub mask: Vec<bool>,
    pub hovered: Option<usize>,
    pub selected: Option<usize>,
    pub(crate) near: Vec<bool>,
    pub(crate) dirty: bool,
    pub(crate) last_axes: (Vec3, Vec3),
    /// Per tier, per atlas: the merged mesh and the texture.
    pub(crate) meshes: Vec<Vec<Handle<Mesh>>>,
    /// Atlas textures per tier (strong handles: they stay loaded while the gallery is open).
    pub textures: Vec<Vec<Handle<Image>>>,
    pub(crate) egui_textures: Vec<Vec<egui::TextureId>>,
    pub(crate) flight: Option<Flight>,
    pub(crate) orbit: bool,
    pub(crate) period_kind: PeriodKind,
    pub(crate) period: usize,
    pub(crate) years: (i32, i32),
    pub(crate) museums: Vec<(String, usize)>,
    pub(crate) media: Vec<(String, usize)>,
    /// RMS radius of the 3D map as loaded: live re-layouts are shown at this size.
    pub(crate) map_radius: f32,
}

/// A live re-layout of the open collection: the viewer's relayout runs headroom-gpu's t-SNE kernel
/// in the render graph, reads the positions back each frame and hands them to [`Gallery::show_live_positions`].
#[derive(Resource, Default, Debug, Clone)]
pub struct LiveRelayout {
    /// Set at start-up when the render device runs compute shaders.
    pub available: Option<String>,
    /// Set by the toolbar button; taken by the runner.
    pub requested: bool,
    pub iteration: usize,
    pub total: usize,
    pub running: bool,
}

impl Gallery {
    /// Shows raw t-SNE positions (any scale) as the 3D map, with no transition.
    pub fn show_live_positions(&mut self, raw: Vec<[f32; 3]>) {
        if raw.len() != self.positions.len() {
            return;
        }
        self.positions = view::fit_radius(raw, self.map_radius);
        self.layout = Layout::Map3d;
        self.transition = None;
        self.dirty = true;
    }
}

#[derive(Component)]
pub(crate) struct Rig;

/// The gallery's outlines: drawn over everything.
#[derive(Default, Reflect, GizmoConfigGroup)]
pub(crate) struct GalleryGizmos;

#[derive(Component)]
pub(crate) struct GalleryMesh;
