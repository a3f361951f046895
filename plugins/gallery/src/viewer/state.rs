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
    /// The face map ([`Layout::Faces`]): each face's position, the merged mesh per face atlas,
    /// and the face under the pointer (its work is [`Gallery::hovered`]).
    pub face_positions: Vec<[f32; 3]>,
    pub(crate) face_meshes: Vec<Handle<Mesh>>,
    /// The face atlases (their pixels kept in the main world too).
    pub(crate) face_textures: Vec<Handle<Image>>,
    pub hovered_face: Option<usize>,
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
    /// Moves to another layout (an animated transition); a layout the manifest cannot show
    /// ([`Layout::available`]) is ignored.
    pub fn set_layout(&mut self, layout: Layout) {
        if self.layout == layout || !layout.available(&self.manifest) {
            return;
        }
        let to = view::layout_positions(&self.manifest, layout);
        self.transition = Some(Transition::new(self.positions.clone(), to, 1.2));
        self.layout = layout;
        self.hovered = None;
        self.hovered_face = None;
        self.dirty = true;
    }

    /// Face `k` as a [`crate::likeness::PaintedFace`], cut from its face atlas.
    pub fn painted_face(&self, images: &Assets<Image>, k: usize) -> Option<crate::likeness::PaintedFace> {
        let faces = self.manifest.faces.as_ref()?;
        let f = faces.faces.get(k)?;
        let img = images.get(self.face_textures.get(f.thumb.atlas as usize)?)?;
        let data = img.data.as_ref()?;
        let size = [img.width(), img.height()];
        crate::likeness::PaintedFace::from_atlas(faces, k, self.manifest.works.get(f.work as usize)?, data, size)
    }

    /// Whether a layout transition is still running.
    pub fn in_transition(&self) -> bool {
        self.transition.is_some()
    }

    /// The merged meshes: per tier per atlas for the works, then one per face atlas.
    pub fn mesh_handles(&self) -> (Vec<Handle<Mesh>>, Vec<Handle<Mesh>>) {
        (self.meshes.iter().flatten().cloned().collect(), self.face_meshes.clone())
    }
    /// Where the camera looks at work `i`: in the face map, its first face (if it has one).
    pub(crate) fn focus_of(&self, i: usize) -> Vec3 {
        if self.layout == Layout::Faces
            && let Some(k) = self.manifest.faces.as_ref().and_then(|f| f.in_work(i as u32).next())
            && let Some(p) = self.face_positions.get(k)
        {
            return Vec3::from(*p);
        }
        // Mid-transition: where the work is going.
        let p = self.transition.as_ref().and_then(|t| t.to.get(i)).unwrap_or(&self.positions[i]);
        Vec3::from(*p)
    }

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
