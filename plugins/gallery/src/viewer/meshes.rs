//! The merged per-atlas meshes of camera-facing quads, and the outlines.

use super::*;

/// Size of a work's quad: faded works (filter active, not matching) shrink to 60 %.
pub(crate) fn quad_scale(g: &Gallery, i: usize) -> f32 {
    if g.filter.is_active() && !g.mask[i] { 0.6 } else { 1.0 }
}

/// Size of a face's quad: faces of works the filter leaves out shrink like their works.
pub(crate) fn face_scale(g: &Gallery, k: usize) -> f32 {
    g.manifest.faces.as_ref().map_or(1.0, |f| quad_scale(g, f.faces[k].work as usize))
}

/// The face map's quads (one per face).
pub(crate) fn face_quads(g: &Gallery) -> Vec<Quad> {
    g.face_positions
        .iter()
        .enumerate()
        .map(|(k, &center)| Quad { center, half: view::face_quad_half(face_scale(g, k)) })
        .collect()
}

/// Which faces can be picked: those of works the filter keeps (all when no filter is set).
pub(crate) fn face_mask(g: &Gallery) -> Option<Vec<bool>> {
    let f = g.manifest.faces.as_ref()?;
    g.filter.is_active().then(|| f.faces.iter().map(|face| g.mask[face.work as usize]).collect())
}

pub(crate) fn quads(g: &Gallery) -> Vec<Quad> {
    g.manifest
        .works
        .iter()
        .enumerate()
        .map(|(i, w)| Quad { center: g.positions[i], half: view::quad_half(w, quad_scale(g, i)) })
        .collect()
}

/// Vertex data of one merged atlas mesh.
#[derive(Default)]
pub(crate) struct MeshBuffers {
    pub(crate) pos: Vec<[f32; 3]>,
    pub(crate) uv: Vec<[f32; 2]>,
    pub(crate) col: Vec<[f32; 4]>,
}

impl MeshBuffers {
    /// A camera-facing quad about `c` (half axes `x`, `y`) showing atlas rectangle `uv` (u0, v0, u1, v1).
    fn push_quad(&mut self, c: Vec3, x: Vec3, y: Vec3, [u0, v0, u1, v1]: [f32; 4], faded: bool) {
        for (p, q) in [(c - x - y, [u0, v1]), (c + x - y, [u1, v1]), (c + x + y, [u1, v0]), (c - x + y, [u0, v0])] {
            self.pos.push(p.into());
            self.uv.push(q);
            self.col.push(if faded { [0.12, 0.12, 0.12, 1.0] } else { [1.0; 4] });
        }
    }
}

/// Rebuilds the merged meshes when the camera turns, works move, the filter changes or the set of
/// near works (large tier) changes.
pub(crate) fn update_meshes(
    gallery: Option<ResMut<Gallery>>,
    rig: Query<&GlobalTransform, With<Rig>>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let Some(mut g) = gallery else { return };
    let Ok(cam) = rig.single() else { return };
    let (right, up) = (cam.right().as_vec3(), cam.up().as_vec3());
    let eye = cam.translation();
    // The works nearest the camera (in front of it) use the largest tier.
    let tiers = g.manifest.tiers.len();
    let mut near = vec![false; g.positions.len()];
    if tiers > 1 {
        let fwd = cam.forward().as_vec3();
        let mut d: Vec<(f32, usize)> = g
            .positions
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let v = Vec3::from(*p) - eye;
                (v.dot(fwd) > 0.0).then_some((v.length_squared(), i))
            })
            .collect();
        let k = NEAR_COUNT.min(d.len());
        if k > 0 {
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            for &(_, i) in &d[..k] {
                near[i] = true;
            }
        }
    }
    let turned = (right - g.last_axes.0).length() > 1e-4 || (up - g.last_axes.1).length() > 1e-4;
    if !(g.dirty || turned || near != g.near) {
        return;
    }
    g.dirty = false;
    g.last_axes = (right, up);
    g.near = near;
    let dim = g.filter.is_active();
    let face_map = g.layout == Layout::Faces;
    // One pass over the works into per-(tier, atlas) buckets: near works (only marked when there
    // is more than one tier) use the largest tier, the rest the smallest.
    let top = tiers.saturating_sub(1);
    let mut buckets: Vec<Vec<MeshBuffers>> =
        g.meshes.iter().map(|atlases| (0..atlases.len()).map(|_| MeshBuffers::default()).collect()).collect();
    for (i, w) in g.manifest.works.iter().enumerate() {
        if face_map {
            break;
        }
        let t = if g.near[i] { top } else { 0 };
        let faded = dim && !g.mask[i];
        let [hw, hh] = view::quad_half(w, quad_scale(&g, i));
        let c = Vec3::from(g.positions[i]);
        let r = w.thumbs[t];
        let [aw, ah] = g.manifest.tiers[t].atlas_sizes[r.atlas as usize];
        let (u0, v0) = (r.rect[0] as f32 / aw as f32, r.rect[1] as f32 / ah as f32);
        let (u1, v1) = ((r.rect[0] + r.rect[2]) as f32 / aw as f32, (r.rect[1] + r.rect[3]) as f32 / ah as f32);
        buckets[t][r.atlas as usize].push_quad(c, right * hw, up * hh, [u0, v0, u1, v1], faded);
    }
    // The face map: the faces' crops, from their own atlases.
    let mut face_buckets: Vec<MeshBuffers> = g.face_meshes.iter().map(|_| MeshBuffers::default()).collect();
    if face_map && let Some(f) = &g.manifest.faces {
        for (k, face) in f.faces.iter().enumerate() {
            let (Some(p), Some(b)) = (g.face_positions.get(k), face_buckets.get_mut(face.thumb.atlas as usize)) else {
                continue;
            };
            let [aw, ah] = f.atlas.atlas_sizes[face.thumb.atlas as usize].map(|v| v as f32);
            let [x, y, w, h] = face.thumb.rect.map(|v| v as f32);
            let [hw, hh] = view::face_quad_half(face_scale(&g, k));
            let faded = dim && !g.mask[face.work as usize];
            b.push_quad(Vec3::from(*p), right * hw, up * hh, [x / aw, y / ah, (x + w) / aw, (y + h) / ah], faded);
        }
    }
    let groups = g.meshes.iter().zip(buckets).chain(std::iter::once((&g.face_meshes, face_buckets)));
    for (handles, atlases) in groups {
        for (handle, b) in handles.iter().zip(atlases) {
            let Some(mut mesh) = meshes.get_mut(handle) else { continue };
            if b.pos.is_empty() {
                *mesh = empty_mesh();
                continue;
            }
            let quads = b.pos.len() / 4;
            let idx: Vec<u32> = (0..quads as u32).flat_map(|q| [0, 1, 2, 0, 2, 3].map(|k| q * 4 + k)).collect();
            mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, b.pos);
            mesh.insert_attribute(Mesh::ATTRIBUTE_UV_0, b.uv);
            mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, b.col);
            mesh.insert_indices(Indices::U32(idx));
        }
    }
}

/// Outlines the hovered and the selected work; gizmos are drawn over everything (depth bias −1), so
/// a hovered work is never hidden behind others.
pub(crate) fn outline(
    gallery: Option<Res<Gallery>>,
    rig: Query<&Transform, With<Rig>>,
    mut gizmos: Gizmos<GalleryGizmos>,
) {
    let Some(g) = gallery else { return };
    let Ok(t) = rig.single() else { return };
    let (hover, select) = (Color::srgb(1.0, 0.85, 0.2), Color::srgb(0.3, 0.8, 1.0));
    let mut square = |c: Vec3, [hw, hh]: [f32; 2], color: Color| {
        let (x, y) = (t.rotation * Vec3::X * hw, t.rotation * Vec3::Y * hh);
        gizmos.linestrip([c - x - y, c + x - y, c + x + y, c - x + y, c - x - y], color);
    };
    if g.layout == Layout::Faces {
        // The face under the pointer, and every face of the selected work.
        let Some(f) = &g.manifest.faces else { return };
        let selected = g.selected.into_iter().flat_map(|s| f.in_work(s as u32)).map(|k| (k, select));
        for (k, color) in selected.chain(g.hovered_face.map(|k| (k, hover))) {
            if let Some(p) = g.face_positions.get(k) {
                square(Vec3::from(*p), view::face_quad_half(1.08), color);
            }
        }
        return;
    }
    for (i, color) in [(g.hovered, hover), (g.selected, select)] {
        let Some(i) = i else { continue };
        square(Vec3::from(g.positions[i]), view::quad_half(&g.manifest.works[i], 1.06), color);
    }
}
