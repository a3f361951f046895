//! The merged per-atlas meshes of camera-facing quads, and the outlines.

use super::*;

/// Size of a work's quad: faded works (filter active, not matching) shrink to 60 %.
pub(crate) fn quad_scale(g: &Gallery, i: usize) -> f32 {
    if g.filter.is_active() && !g.mask[i] { 0.6 } else { 1.0 }
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
    // One pass over the works into per-(tier, atlas) buckets: near works (only marked when there
    // is more than one tier) use the largest tier, the rest the smallest.
    let top = tiers.saturating_sub(1);
    let mut buckets: Vec<Vec<MeshBuffers>> =
        g.meshes.iter().map(|atlases| (0..atlases.len()).map(|_| MeshBuffers::default()).collect()).collect();
    for (i, w) in g.manifest.works.iter().enumerate() {
        let t = if g.near[i] { top } else { 0 };
        let faded = dim && !g.mask[i];
        let [hw, hh] = view::quad_half(w, quad_scale(&g, i));
        let c = Vec3::from(g.positions[i]);
        let r = w.thumbs[t];
        let [aw, ah] = g.manifest.tiers[t].atlas_sizes[r.atlas as usize];
        let (u0, v0) = (r.rect[0] as f32 / aw as f32, r.rect[1] as f32 / ah as f32);
        let (u1, v1) = ((r.rect[0] + r.rect[2]) as f32 / aw as f32, (r.rect[1] + r.rect[3]) as f32 / ah as f32);
        let b = &mut buckets[t][r.atlas as usize];
        let (x, y) = (right * hw, up * hh);
        for (p, q) in [(c - x - y, [u0, v1]), (c + x - y, [u1, v1]), (c + x + y, [u1, v0]), (c - x + y, [u0, v0])] {
            b.pos.push(p.into());
            b.uv.push(q);
            b.col.push(if faded { [0.12, 0.12, 0.12, 1.0] } else { [1.0; 4] });
        }
    }
    for (handles, atlases) in g.meshes.iter().zip(buckets) {
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
    for (i, color) in [(g.hovered, Color::srgb(1.0, 0.85, 0.2)), (g.selected, Color::srgb(0.3, 0.8, 1.0))] {
        let Some(i) = i else { continue };
        let [hw, hh] = view::quad_half(&g.manifest.works[i], 1.06);
        let c = Vec3::from(g.positions[i]);
        let (x, y) = (t.rotation * Vec3::X * hw, t.rotation * Vec3::Y * hh);
        gizmos.linestrip([c - x - y, c + x - y, c + x + y, c - x + y, c - x - y], color);
    }
}
