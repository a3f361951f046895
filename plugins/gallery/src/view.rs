//! The viewer's logic without Bevy: layouts, animated transitions, picking, filters.
//!
//! World units: a thumbnail quad is at most 1 unit on its longest side. Layout positions are
//! scaled so that neighbouring works rarely overlap.

use crate::manifest::{Manifest, Work};

pub type V3 = [f32; 3];

/// The arrangements the viewer offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// The 3D t-SNE map.
    Map3d,
    /// The 2D t-SNE map as a wall.
    Wall2d,
    /// x = year (by decade columns; undated works at the far left), similar works side by side.
    Timeline,
    /// One row band per century (oldest on top), works sorted by similarity within it.
    Periods,
    /// The faces found in the works as their own 3D t-SNE map (manifests with a `faces` section);
    /// the works stand in the 3D map meanwhile, hidden.
    Faces,
}

impl Layout {
    pub const ALL: [Layout; 5] = [Layout::Map3d, Layout::Wall2d, Layout::Timeline, Layout::Periods, Layout::Faces];
    pub fn label(self) -> &'static str {
        match self {
            Layout::Map3d => "t-SNE 3D",
            Layout::Wall2d => "t-SNE 2D wall",
            Layout::Timeline => "timeline",
            Layout::Periods => "grid by period",
            Layout::Faces => "face map",
        }
    }

    /// Whether the layout can show this manifest (the face map needs its `faces` section).
    pub fn available(self, m: &Manifest) -> bool {
        self != Layout::Faces || m.faces.as_ref().is_some_and(|f| !f.faces.is_empty())
    }
}

fn median_nn_distance(points: &[V3]) -> f32 {
    if points.len() < 2 {
        return 1.0;
    }
    let step = (points.len() / 400).max(1);
    let mut d: Vec<f32> = points
        .iter()
        .step_by(step)
        .enumerate()
        .map(|(k, p)| {
            let i = k * step;
            points
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, q)| (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f32>())
                .fold(f32::INFINITY, f32::min)
                .sqrt()
        })
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if d.is_empty() {
        return 1.0;
    }
    d.sort_by(f32::total_cmp);
    d[d.len() / 2]
}

/// Scales points (about their centroid) so that the median nearest-neighbour distance is `target`.
/// Centres `pts` and scales them so the median nearest-neighbour distance is `target`.
pub fn normalise(mut pts: Vec<V3>, target: f32) -> Vec<V3> {
    let n = pts.len().max(1) as f32;
    let mut c = [0.0f32; 3];
    for p in &pts {
        for a in 0..3 {
            c[a] += p[a] / n;
        }
    }
    let s = target / median_nn_distance(&pts).max(1e-9);
    for p in &mut pts {
        for a in 0..3 {
            p[a] = (p[a] - c[a]) * s;
        }
    }
    pts
}

/// Root-mean-square distance of the points from their centroid.
pub fn rms_radius(pts: &[V3]) -> f32 {
    let n = pts.len().max(1) as f64;
    let mut c = [0.0f64; 3];
    for p in pts {
        for a in 0..3 {
            c[a] += p[a] as f64 / n;
        }
    }
    let ss: f64 = pts.iter().map(|p| (0..3).map(|a| (p[a] as f64 - c[a]).powi(2)).sum::<f64>()).sum();
    (ss / n).sqrt() as f32
}

/// Centres the points and scales them to RMS radius `radius`. Unlike [`normalise`] (median
/// nearest-neighbour spacing), the overall extent is kept, so a map still forming (tight clusters
/// under early exaggeration) stays the size of the finished one instead of exploding.
pub fn fit_radius(mut pts: Vec<V3>, radius: f32) -> Vec<V3> {
    let n = pts.len().max(1) as f64;
    let mut c = [0.0f64; 3];
    for p in &pts {
        for a in 0..3 {
            c[a] += p[a] as f64 / n;
        }
    }
    let r = rms_radius(&pts);
    let s = if r > 0.0 && r.is_finite() { radius / r } else { 0.0 };
    for p in &mut pts {
        for a in 0..3 {
            p[a] = ((p[a] as f64 - c[a]) as f32) * s;
        }
    }
    pts
}

/// Positions of every work in a layout.
pub fn layout_positions(m: &Manifest, layout: Layout) -> Vec<V3> {
    let works = &m.works;
    match layout {
        // In the face map the works wait in the 3D map, where a click on a face flies to.
        Layout::Map3d | Layout::Faces => normalise(works.iter().map(|w| w.pos3).collect(), 1.25),
        Layout::Wall2d => normalise(works.iter().map(|w| [w.pos2[0], w.pos2[1], 0.0]).collect(), 1.15),
        Layout::Timeline => timeline(works),
        Layout::Periods => periods(works),
    }
}

/// Positions of every face in the face map: the faces' own 3D t-SNE, spaced like the work map
/// (crops are square quads of side 1). Empty without a `faces` section.
pub fn face_positions(m: &Manifest) -> Vec<V3> {
    match &m.faces {
        Some(f) if !f.faces.is_empty() => normalise(f.faces.iter().map(|f| f.pos3).collect(), 1.25),
        _ => Vec::new(),
    }
}

/// Half extents of a face's quad: its crop is square, side 1 × `scale`.
pub fn face_quad_half(scale: f32) -> [f32; 2] {
    [0.5 * scale, 0.5 * scale]
}

const CELL: f32 = 1.1;

fn timeline(works: &[Work]) -> Vec<V3> {
    // Columns of 4 per decade; within a decade, works ordered by their 2D map x (similar together).
    const PER_DECADE: usize = 4;
    let mut groups: std::collections::BTreeMap<i32, Vec<usize>> = Default::default();
    for (i, w) in works.iter().enumerate() {
        let key = w.meta.year.map(|y| y.div_euclid(10) * 10).unwrap_or(i32::MIN);
        groups.entry(key).or_default().push(i);
    }
    let mut out = vec![[0.0; 3]; works.len()];
    let first = groups.keys().find(|&&k| k != i32::MIN).copied().unwrap_or(0);
    let last = groups.keys().next_back().copied().unwrap_or(first).max(first);
    let decades = ((last - first) / 10 + 1) as f32;
    let width = decades * PER_DECADE as f32 * CELL;
    for (key, mut members) in groups {
        members.sort_by(|&a, &b| works[a].pos2[0].total_cmp(&works[b].pos2[0]));
        let x0 = if key == i32::MIN {
            -(PER_DECADE as f32 + 2.0) * CELL // undated: one column group left of the first decade
        } else {
            (key - first) as f32 / 10.0 * PER_DECADE as f32 * CELL
        };
        for (k, &i) in members.iter().enumerate() {
            out[i] = [x0 + (k % PER_DECADE) as f32 * CELL - width / 2.0, (k / PER_DECADE) as f32 * CELL, 0.0];
        }
    }
    out
}

fn periods(works: &[Work]) -> Vec<V3> {
    const PER_ROW: usize = 60;
    let mut groups: std::collections::BTreeMap<i32, Vec<usize>> = Default::default();
    for (i, w) in works.iter().enumerate() {
        let key = w
            .meta
            .year
            .map(|y| crate::manifest::period_of(y, crate::manifest::PeriodKind::Century).0)
            .unwrap_or(i32::MAX);
        groups.entry(key).or_default().push(i);
    }
    let mut out = vec![[0.0; 3]; works.len()];
    let mut row = 0usize;
    for (_, mut members) in groups {
        members.sort_by(|&a, &b| works[a].pos2[0].total_cmp(&works[b].pos2[0]));
        for (k, &i) in members.iter().enumerate() {
            let r = row + k / PER_ROW;
            out[i] = [((k % PER_ROW) as f32 - PER_ROW as f32 / 2.0) * CELL, -(r as f32) * CELL, 0.0];
        }
        // One empty row between periods.
        row += members.len().div_ceil(PER_ROW) + 1;
    }
    // Centre vertically.
    let h = row as f32 * CELL;
    for p in &mut out {
        p[1] += h / 2.0;
    }
    out
}

/// A timed, eased move of every work from one layout to another.
#[derive(Clone, Debug)]
pub struct Transition {
    pub from: Vec<V3>,
    pub to: Vec<V3>,
    pub elapsed: f32,
    pub duration: f32,
}

impl Transition {
    pub fn new(from: Vec<V3>, to: Vec<V3>, duration: f32) -> Self {
        assert_eq!(from.len(), to.len());
        Self { from, to, elapsed: 0.0, duration: duration.max(1e-3) }
    }

    /// Advances by `dt` seconds; true when finished.
    pub fn advance(&mut self, dt: f32) -> bool {
        self.elapsed = (self.elapsed + dt.max(0.0)).min(self.duration);
        self.finished()
    }

    pub fn finished(&self) -> bool {
        self.elapsed >= self.duration
    }

    /// Current positions (exactly `to` once finished).
    pub fn positions(&self) -> Vec<V3> {
        if self.finished() {
            return self.to.clone();
        }
        let t = self.elapsed / self.duration;
        let e = t * t * (3.0 - 2.0 * t);
        self.from.iter().zip(&self.to).map(|(a, b)| [0, 1, 2].map(|k| a[k] + (b[k] - a[k]) * e)).collect()
    }
}

fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn cross(a: V3, b: V3) -> V3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// A camera-facing quad: centre and half extents along the camera's right and up axes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quad {
    pub center: V3,
    pub half: [f32; 2],
}

/// Half extents of a work's quad (longest side 1 × `scale`), from its thumbnail's aspect.
pub fn quad_half(w: &Work, scale: f32) -> [f32; 2] {
    let [sw, sh] = w.size;
    let m = sw.max(sh).max(1) as f32;
    [0.5 * scale * sw.max(1) as f32 / m, 0.5 * scale * sh.max(1) as f32 / m]
}

/// The nearest quad hit by a ray (quads lie in planes spanned by `right` and `up`), with its
/// distance along the ray. Only quads with `pickable[i]` (if given) count.
pub fn pick(origin: V3, dir: V3, right: V3, up: V3, quads: &[Quad], pickable: Option<&[bool]>) -> Option<(usize, f32)> {
    let n = cross(right, up);
    let dn = dot(dir, n);
    if dn.abs() < 1e-9 {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (i, q) in quads.iter().enumerate() {
        if pickable.is_some_and(|p| !p[i]) {
            continue;
        }
        let t = dot(sub(q.center, origin), n) / dn;
        if t <= 0.0 || best.is_some_and(|(_, bt)| t >= bt) {
            continue;
        }
        let p = [origin[0] + dir[0] * t, origin[1] + dir[1] * t, origin[2] + dir[2] * t];
        let d = sub(p, q.center);
        if dot(d, right).abs() <= q.half[0] && dot(d, up).abs() <= q.half[1] {
            best = Some((i, t));
        }
    }
    best
}

/// Search and filters; works that do not match fade.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Case-insensitive words that must all appear in the title or artist.
    pub text: String,
    /// Inclusive year range; undated works fail an active range.
    pub years: Option<(i32, i32)>,
    /// Exact museum.
    pub museum: Option<String>,
    /// Case-insensitive substring of the medium ("oil", "watercolor", …).
    pub medium: Option<String>,
}

impl Filter {
    pub fn is_active(&self) -> bool {
        !self.text.trim().is_empty() || self.years.is_some() || self.museum.is_some() || self.medium.is_some()
    }

    pub fn matches(&self, w: &Work) -> bool {
        let words: Vec<String> = self.text.split_whitespace().map(|s| s.to_lowercase()).collect();
        if !words.is_empty() {
            let hay = format!("{} {}", w.meta.title, w.meta.artist).to_lowercase();
            if !words.iter().all(|word| hay.contains(word)) {
                return false;
            }
        }
        if let Some((a, b)) = self.years
            && !w.meta.year.is_some_and(|y| y >= a && y <= b)
        {
            return false;
        }
        if let Some(m) = &self.museum
            && &w.meta.museum != m
        {
            return false;
        }
        if let Some(m) = &self.medium
            && !w.meta.medium.to_lowercase().contains(&m.to_lowercase())
        {
            return false;
        }
        true
    }

    pub fn apply(&self, m: &Manifest) -> Vec<bool> {
        m.works.iter().map(|w| self.matches(w)).collect()
    }
}

/// The most common values of a metadata field (for filter menus), most frequent first.
pub fn common_values(m: &Manifest, field: impl Fn(&Work) -> &str, k: usize) -> Vec<(String, usize)> {
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    for w in &m.works {
        let v = field(w);
        if !v.is_empty() {
            *counts.entry(v).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().map(|(s, c)| (s.to_string(), c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::atlas::{AtlasFormat, AtlasRect};
    use crate::ingest::Metadata;
    use crate::manifest::{LayoutInfo, Tier};

    pub fn manifest(n: usize) -> Manifest {
        let works = (0..n)
            .map(|i| Work {
                file: format!("w{i}.jpg"),
                meta: Metadata {
                    title: format!("Work {i}"),
                    artist: if i % 2 == 0 { "Ann Even".into() } else { "Bob Odd".into() },
                    year: if i % 5 == 4 { None } else { Some(1800 + (i as i32 * 7) % 200) },
                    museum: ["Prado", "Met", "Nasjonalmuseet"][i % 3].into(),
                    medium: if i % 4 == 0 { "Oil on canvas".into() } else { "watercolor".into() },
                    ..Default::default()
                },
                size: if i % 2 == 0 { [200, 100] } else { [100, 200] },
                pos3: [(i as f32 * 1.3).sin() * 10.0, (i as f32 * 0.7).cos() * 10.0, i as f32 * 0.1],
                pos2: [(i as f32 * 1.3).sin() * 10.0, i as f32 * 0.2],
                thumbs: vec![AtlasRect { atlas: 0, rect: [0, 0, 8, 8] }],
                similar: vec![((i + 1) % n) as u32],
                typicality: None,
            })
            .collect();
        Manifest {
            format: crate::manifest::FORMAT.into(),
            version: crate::manifest::VERSION,
            name: "test".into(),
            model: "test".into(),
            tiers: vec![Tier {
                size: 8,
                format: AtlasFormat::Png,
                atlases: vec!["a.png".into()],
                atlas_sizes: vec![[64, 64]],
            }],
            works,
            periods: vec![],
            layout: LayoutInfo { pca_dims: 2, perplexity: 5.0, iterations: 10, transformed: 0, seed: 1 },
            skipped: vec![],
            faces: None,
        }
    }

    #[test]
    fn the_face_map_places_faces_by_their_own_map_and_keeps_the_works_in_the_3d_map() {
        use crate::manifest::{Face, Faces};
        let mut m = manifest(30);
        assert!(!Layout::Faces.available(&m) && face_positions(&m).is_empty());
        assert!(Layout::ALL.iter().filter(|l| **l != Layout::Faces).all(|l| l.available(&m)));
        let face = |k: usize| Face {
            work: (k % 30) as u32,
            bbox: [0.0, 0.0, 10.0, 10.0],
            score: 0.9,
            landmarks: vec![],
            thumb: AtlasRect { atlas: 0, rect: [0, 0, 8, 8] },
            embedding: vec![0.0],
            // Two clusters, far apart in the face map.
            pos3: if k < 20 { [k as f32 * 0.1, 0.0, 0.0] } else { [100.0 + k as f32 * 0.1, 0.0, 0.0] },
        };
        m.faces = Some(Faces {
            model: "t".into(),
            crop: 8,
            atlas: m.tiers[0].clone(),
            pca_mean: vec![0.0],
            pca_components: vec![1.0],
            dims: 1,
            faces: (0..40).map(face).collect(),
        });
        m.validate().unwrap();
        assert!(Layout::Faces.available(&m));
        let p = face_positions(&m);
        assert_eq!(p.len(), 40);
        // Spaced like the work map (median nearest neighbour 1.25), the clusters kept apart.
        let d = |a: V3, b: V3| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f32>().sqrt();
        assert!((d(p[0], p[1]) - 1.25).abs() < 1e-3, "{}", d(p[0], p[1]));
        assert!(d(p[0], p[39]) > 100.0);
        assert_eq!(layout_positions(&m, Layout::Faces), layout_positions(&m, Layout::Map3d));
        // Picking among the face quads finds the face under the ray.
        let quads: Vec<Quad> = p.iter().map(|&c| Quad { center: c, half: face_quad_half(1.0) }).collect();
        let o = [p[27][0] + 0.2, p[27][1] - 0.3, 30.0];
        let hit = pick(o, [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], &quads, None);
        assert_eq!(hit.map(|h| h.0), Some(27));
    }

    #[test]
    fn fit_radius_keeps_the_extent_whatever_the_clustering() {
        // Two tight clusters far apart: normalise() (median NN spacing) would blow them up;
        // fit_radius gives the requested RMS radius, centred.
        let mut pts = Vec::new();
        for k in 0..50 {
            let e = k as f32 * 1e-4;
            pts.push([-10.0 + e, 3.0, e]);
            pts.push([10.0 - e, 3.0, -e]);
        }
        let out = fit_radius(pts.clone(), 7.0);
        assert!((rms_radius(&out) - 7.0).abs() < 1e-3, "rms {}", rms_radius(&out));
        let c: f32 = out.iter().map(|p| p[0] + p[1] + p[2]).sum::<f32>() / out.len() as f32;
        assert!(c.abs() < 1e-3);
        assert!(normalise(pts, 1.25).iter().any(|p| p[0].abs() > 1e4));
        // Degenerate input (all equal) stays finite.
        assert!(fit_radius(vec![[1.0; 3]; 4], 5.0).iter().all(|p| p.iter().all(|c| *c == 0.0)));
    }

    #[test]
    fn a_picking_ray_hits_the_front_most_quad_under_it() {
        let quads = vec![
            Quad { center: [0.0, 0.0, -10.0], half: [0.5, 0.5] },
            Quad { center: [0.2, 0.1, -5.0], half: [0.5, 0.25] }, // in front, overlapping
            Quad { center: [3.0, 0.0, -2.0], half: [0.5, 0.5] },  // off to the side
        ];
        let (right, up) = ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]);
        let fwd = [0.0, 0.0, -1.0];
        assert_eq!(pick([0.0; 3], fwd, right, up, &quads, None).map(|h| h.0), Some(1));
        // Just above the front quad's top edge: the one behind.
        assert_eq!(pick([0.0, 0.4, 0.0], fwd, right, up, &quads, None).map(|h| h.0), Some(0));
        assert_eq!(pick([3.2, 0.3, 0.0], fwd, right, up, &quads, None).map(|h| h.0), Some(2));
        assert_eq!(pick([9.0, 0.0, 0.0], fwd, right, up, &quads, None), None);
        // Faded (unpickable) quads are skipped.
        assert_eq!(pick([0.0; 3], fwd, right, up, &quads, Some(&[true, false, true])).map(|h| h.0), Some(0));
        // An oblique ray from the side.
        let d = {
            let v = [3.0f32, 0.0, -2.0];
            let l = dot(v, v).sqrt();
            [v[0] / l, v[1] / l, v[2] / l]
        };
        assert_eq!(pick([0.0; 3], d, right, up, &quads, None).map(|h| h.0), Some(2));
    }

    #[test]
    fn filters_select_the_right_works() {
        let m = manifest(40);
        let f = Filter { text: "ann".into(), ..Default::default() };
        assert!(f.apply(&m).iter().enumerate().all(|(i, &k)| k == (i % 2 == 0)));
        // Every word must appear in the title or the artist.
        let f = Filter { text: "ODD 1".into(), ..Default::default() };
        let hits: Vec<usize> = f.apply(&m).iter().enumerate().filter(|e| *e.1).map(|e| e.0).collect();
        assert_eq!(hits, [1, 11, 13, 15, 17, 19, 21, 31]);
        let f = Filter { years: Some((1850, 1899)), museum: Some("Met".into()), ..Default::default() };
        for (i, ok) in f.apply(&m).into_iter().enumerate() {
            let w = &m.works[i];
            let want = w.meta.museum == "Met" && w.meta.year.is_some_and(|y| (1850..=1899).contains(&y));
            assert_eq!(ok, want, "work {i}");
        }
        let f = Filter { medium: Some("OIL".into()), ..Default::default() };
        assert_eq!(f.apply(&m).iter().filter(|&&k| k).count(), 10);
        assert!(!Filter::default().is_active());
        assert!(Filter::default().apply(&m).iter().all(|&k| k));
        assert_eq!(common_values(&m, |w| &w.meta.museum, 2), [("Prado".to_string(), 14), ("Met".to_string(), 13)]);
    }

    #[test]
    fn a_transition_ends_exactly_at_its_targets() {
        let m = manifest(30);
        let from = layout_positions(&m, Layout::Map3d);
        let to = layout_positions(&m, Layout::Timeline);
        let mut t = Transition::new(from.clone(), to.clone(), 1.2);
        assert_eq!(t.positions(), from);
        let mut steps = 0;
        while !t.advance(1.0 / 7.0) {
            steps += 1;
            let mid = t.positions();
            assert!(mid != to);
        }
        assert_eq!(steps, 8);
        assert_eq!(t.positions(), to, "bit-exact at the end");
        assert!(t.advance(1.0));
        assert_eq!(t.positions(), to);
    }

    #[test]
    fn layouts_place_every_work_finitely_and_apart() {
        let m = manifest(120);
        for layout in Layout::ALL {
            let p = layout_positions(&m, layout);
            assert_eq!(p.len(), 120);
            assert!(p.iter().flatten().all(|v| v.is_finite()), "{layout:?}");
            if !matches!(layout, Layout::Map3d | Layout::Faces) {
                // Flat layouts.
                assert!(p.iter().all(|q| q[2] == 0.0));
            }
            if matches!(layout, Layout::Timeline | Layout::Periods) {
                // Grid layouts never stack two works on the same spot.
                for i in 0..p.len() {
                    for j in i + 1..p.len() {
                        let d = (0..3).map(|a| (p[i][a] - p[j][a]).powi(2)).sum::<f32>();
                        assert!(d > 0.5, "{layout:?}: works {i} and {j} overlap");
                    }
                }
            }
        }
        // Timeline: later decades further right.
        let p = layout_positions(&m, Layout::Timeline);
        let (a, b) = (
            m.works.iter().position(|w| w.meta.year == Some(1800)).unwrap(),
            m.works.iter().position(|w| w.meta.year.is_some_and(|y| y >= 1990)).unwrap(),
        );
        assert!(p[b][0] > p[a][0]);
    }
}
