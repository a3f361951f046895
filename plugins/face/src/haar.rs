//! Viola–Jones face detection with cascades in OpenCV's XML format (`opencv_traincascade`
//! output, e.g. `haarcascade_frontalface_alt.xml`), following OpenCV's `detectMultiScale`:
//! a pyramid of bilinearly scaled images, 20×20 windows normalised by the standard deviation of
//! their inner 18×18, stage thresholds, and `groupRectangles` with `min_neighbors`.

use rayon::prelude::*;

use crate::image_ops::{Gray, Integral};

/// A detection or a face box, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn new(x: i32, y: i32, w: i32, h: i32) -> Self {
        Rect { x, y, w, h }
    }

    pub fn area(&self) -> i64 {
        i64::from(self.w) * i64::from(self.h)
    }

    /// Scales position and size by `s` (e.g. from a work image back to the frame).
    pub fn scaled(&self, s: f32) -> Rect {
        let r = |v: i32| (v as f32 * s).round() as i32;
        Rect { x: r(self.x), y: r(self.y), w: r(self.w), h: r(self.h) }
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x as f32 + self.w as f32 / 2.0, self.y as f32 + self.h as f32 / 2.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CascadeError {
    #[error("not a cascade file: {0}")]
    Xml(String),
    #[error("unsupported cascade: {0}")]
    Unsupported(String),
    #[error("malformed cascade: {0}")]
    Malformed(String),
}

/// Per feature: up to three rects as four integral-image offsets and a weight.
type FeatureOffsets = [(usize, usize, usize, usize, f32); 3];

#[derive(Clone, Debug)]
struct FeatureRect {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    weight: f32,
}

#[derive(Clone, Debug)]
struct Node {
    feature: usize,
    threshold: f32,
    /// ≤ 0: leaf index −left; > 0: next node.
    left: i32,
    right: i32,
}

#[derive(Clone, Debug)]
struct Weak {
    nodes: Vec<Node>,
    leaves: Vec<f32>,
}

#[derive(Clone, Debug)]
struct Stage {
    threshold: f32,
    weak: Vec<Weak>,
    /// The same classifiers flattened when every one is a single split (true of
    /// haarcascade_frontalface_alt): one feature, threshold and both leaf values inline.
    stumps: Option<Vec<Stump>>,
}

#[derive(Clone, Copy, Debug)]
struct Stump {
    feature: u32,
    threshold: f32,
    left: f32,
    right: f32,
}

impl Stage {
    fn new(threshold: f32, weak: Vec<Weak>) -> Self {
        let leaf = |w: &Weak, idx: i32| (idx <= 0).then(|| w.leaves.get((-idx) as usize).copied()).flatten();
        let stumps = weak
            .iter()
            .map(|w| match w.nodes.as_slice() {
                [n] => Some(Stump {
                    feature: n.feature as u32,
                    threshold: n.threshold,
                    left: leaf(w, n.left)?,
                    right: leaf(w, n.right)?,
                }),
                _ => None,
            })
            .collect();
        Stage { threshold, weak, stumps }
    }
}

/// A boosted cascade of Haar-feature trees.
#[derive(Clone, Debug)]
pub struct Cascade {
    pub window_width: usize,
    pub window_height: usize,
    stages: Vec<Stage>,
    features: Vec<Vec<FeatureRect>>,
}

/// Detection settings; the defaults are clmtrackr's (on a work image whose longer side is 200).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectParams {
    pub scale_factor: f32,
    pub min_neighbors: usize,
    /// Smallest window side, in pixels of the searched image.
    pub min_size: usize,
    /// Largest window side; `None` = the image.
    pub max_size: Option<usize>,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams { scale_factor: 1.15, min_neighbors: 2, min_size: 40, max_size: None }
    }
}

fn numbers(text: &str) -> Result<Vec<f64>, CascadeError> {
    text.split_whitespace()
        .map(|t| t.parse::<f64>().map_err(|_| CascadeError::Malformed(format!("'{t}' is not a number"))))
        .collect()
}

fn child<'a, 'b>(node: roxmltree::Node<'a, 'b>, name: &str) -> Result<roxmltree::Node<'a, 'b>, CascadeError> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .ok_or_else(|| CascadeError::Malformed(format!("<{}> has no <{name}>", node.tag_name().name())))
}

fn text_of(node: roxmltree::Node, name: &str) -> Result<String, CascadeError> {
    Ok(child(node, name)?.text().unwrap_or("").trim().to_string())
}

fn items<'a, 'b>(node: roxmltree::Node<'a, 'b>) -> impl Iterator<Item = roxmltree::Node<'a, 'b>> {
    node.children().filter(|c| c.has_tag_name("_"))
}

impl Cascade {
    /// Parses OpenCV's cascade XML (the format written by `opencv_traincascade`).
    pub fn from_xml(xml: &str) -> Result<Self, CascadeError> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| CascadeError::Xml(e.to_string()))?;
        let root = doc.root_element();
        let cascade = root.children().find(|c| c.has_tag_name("cascade")).ok_or_else(|| {
            CascadeError::Unsupported(format!(
                "no <cascade> under <{}> (old-style cascades must be converted with OpenCV first)",
                root.tag_name().name()
            ))
        })?;
        let stage_type = text_of(cascade, "stageType")?;
        let feature_type = text_of(cascade, "featureType")?;
        if stage_type != "BOOST" || feature_type != "HAAR" {
            return Err(CascadeError::Unsupported(format!("{stage_type}/{feature_type}; only BOOST/HAAR")));
        }
        let dim = |n: &str| -> Result<usize, CascadeError> {
            text_of(cascade, n)?.parse().map_err(|_| CascadeError::Malformed(format!("bad <{n}>")))
        };
        let (window_width, window_height) = (dim("width")?, dim("height")?);
        if !(3..=256).contains(&window_width) || !(3..=256).contains(&window_height) {
            return Err(CascadeError::Malformed(format!("window {window_width}×{window_height}")));
        }

        let mut features = Vec::new();
        for f in items(child(cascade, "features")?) {
            if f.children().any(|c| c.has_tag_name("tilted") && c.text().is_some_and(|t| t.trim() == "1")) {
                return Err(CascadeError::Unsupported("tilted Haar features".into()));
            }
            let mut rects = Vec::new();
            for r in items(child(f, "rects")?) {
                let v = numbers(r.text().unwrap_or(""))?;
                // Coordinates must be small non-negative integers-as-floats: a huge value would
                // saturate to usize::MAX and `x + w` wrap past the bounds check below.
                if v.len() != 5 || v[..4].iter().any(|&c| !(0.0..=256.0).contains(&c)) || !v[4].is_finite() {
                    return Err(CascadeError::Malformed(format!("feature rect '{:?}'", v)));
                }
                let fr = FeatureRect {
                    x: v[0] as usize,
                    y: v[1] as usize,
                    w: v[2] as usize,
                    h: v[3] as usize,
                    weight: v[4] as f32,
                };
                if fr.x + fr.w > window_width || fr.y + fr.h > window_height {
                    return Err(CascadeError::Malformed("feature rect outside the window".into()));
                }
                rects.push(fr);
            }
            if rects.is_empty() || rects.len() > 3 {
                return Err(CascadeError::Malformed(format!("feature with {} rects", rects.len())));
            }
            features.push(rects);
        }

        let mut stages = Vec::new();
        for s in items(child(cascade, "stages")?) {
            let threshold = numbers(&text_of(s, "stageThreshold")?)?.first().copied().unwrap_or(0.0) as f32;
            let mut weak = Vec::new();
            for w in items(child(s, "weakClassifiers")?) {
                let inner = numbers(&text_of(w, "internalNodes")?)?;
                let leaves: Vec<f32> = numbers(&text_of(w, "leafValues")?)?.into_iter().map(|v| v as f32).collect();
                if inner.is_empty() || inner.len() % 4 != 0 {
                    return Err(CascadeError::Malformed("internalNodes not in groups of 4".into()));
                }
                let nodes: Vec<Node> = inner
                    .chunks_exact(4)
                    .map(|c| Node {
                        left: c[0] as i32,
                        right: c[1] as i32,
                        feature: c[2] as usize,
                        threshold: c[3] as f32,
                    })
                    .collect();
                for (k, n) in nodes.iter().enumerate() {
                    // A child node must come after its parent (as OpenCV writes trees), so no
                    // tree can loop; leaves (≤ 0) must exist.
                    let ok = |i: i32| {
                        if i <= 0 {
                            (i.unsigned_abs() as usize) < leaves.len()
                        } else {
                            (i as usize) > k && (i as usize) < nodes.len()
                        }
                    };
                    if n.feature >= features.len() || !ok(n.left) || !ok(n.right) || !n.threshold.is_finite() {
                        return Err(CascadeError::Malformed(
                            "tree node points outside the cascade, back to itself or an earlier node".into(),
                        ));
                    }
                }
                weak.push(Weak { nodes, leaves });
            }
            stages.push(Stage::new(threshold, weak));
        }
        if stages.is_empty() {
            return Err(CascadeError::Malformed("no stages".into()));
        }
        Ok(Cascade { window_width, window_height, stages, features })
    }

    pub fn stage_count(&self) -> usize {
        self.stages.len()
    }

    pub fn weak_count(&self) -> usize {
        self.stages.iter().map(|s| s.weak.len()).sum()
    }

    pub fn feature_count(&self) -> usize {
        self.features.len()
    }

    /// Face boxes in `img`, grouped as OpenCV's `detectMultiScale` does, largest first.
    pub fn detect(&self, img: &Gray, p: &DetectParams) -> Vec<Rect> {
        let mut raw = self.detect_raw(img, p);
        let mut grouped = group_rectangles(&mut raw, p.min_neighbors, 0.2);
        grouped.sort_by_key(|(r, _)| std::cmp::Reverse(r.area()));
        grouped.into_iter().map(|(r, _)| r).collect()
    }

    /// Every window the cascade accepts, before grouping.
    pub fn detect_raw(&self, img: &Gray, p: &DetectParams) -> Vec<Rect> {
        let mut out = Vec::new();
        if img.width < self.window_width
            || img.height < self.window_height
            || p.scale_factor.partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater)
        {
            return out;
        }
        let max_size = p.max_size.unwrap_or(usize::MAX);
        // The scales to scan (OpenCV's order), then each scale on its own (in parallel).
        let mut scales = Vec::new();
        let mut factor = 1.0f64;
        loop {
            let win_w = (self.window_width as f64 * factor).round() as usize;
            let win_h = (self.window_height as f64 * factor).round() as usize;
            if win_w > max_size || win_h > max_size {
                break;
            }
            let sw = (img.width as f64 / factor).round() as usize;
            let sh = (img.height as f64 / factor).round() as usize;
            if sw < self.window_width || sh < self.window_height {
                break;
            }
            if win_w >= p.min_size && win_h >= p.min_size {
                scales.push((factor, win_w, win_h, sw, sh));
            }
            factor *= f64::from(p.scale_factor);
        }
        let per_scale: Vec<Vec<Rect>> = scales
            .par_iter()
            .map(|&(factor, win_w, win_h, sw, sh)| {
                let mut out = Vec::new();
                let mut offsets = Vec::new();
                let scaled = img.resize(sw, sh);
                let ii = Integral::new(&scaled);
                self.prepare_offsets(ii.stride(), &mut offsets);
                let step = if factor > 2.0 { 1 } else { 2 };
                let (x_end, y_end) = (sw - self.window_width, sh - self.window_height);
                let mut y = 0;
                while y <= y_end {
                    let mut x = 0;
                    while x <= x_end {
                        let result = self.run_at(&ii, &offsets, x, y);
                        if result > 0 {
                            out.push(Rect::new(
                                (x as f64 * factor).round() as i32,
                                (y as f64 * factor).round() as i32,
                                win_w as i32,
                                win_h as i32,
                            ));
                        }
                        // Rejected by the very first stage: skip one more position, as OpenCV does.
                        if result == 0 {
                            x += step;
                        }
                        x += step;
                    }
                    y += step;
                }
                out
            })
            .collect();
        out.extend(per_scale.into_iter().flatten());
        out
    }

    /// For each feature rect, its four corner offsets in an integral image of this stride.
    fn prepare_offsets(&self, stride: usize, out: &mut Vec<FeatureOffsets>) {
        out.clear();
        for rects in &self.features {
            let mut o = [(0, 0, 0, 0, 0.0f32); 3];
            for (slot, r) in o.iter_mut().zip(rects) {
                let tl = r.y * stride + r.x;
                *slot = (tl, tl + r.w, tl + r.h * stride, tl + r.h * stride + r.w, r.weight);
            }
            out.push(o);
        }
    }

    /// 1 if every stage accepts the window at (x, y); else −(index of the rejecting stage),
    /// so 0 means "rejected by stage 0".
    fn run_at(&self, ii: &Integral, offsets: &[FeatureOffsets], x: usize, y: usize) -> i32 {
        let (ww, wh) = (self.window_width, self.window_height);
        let inner_area = ((ww - 2) * (wh - 2)) as f64;
        let sum = f64::from(ii.rect_sum(x + 1, y + 1, ww - 2, wh - 2));
        let sq = ii.rect_sqsum(x + 1, y + 1, ww - 2, wh - 2);
        let nf = inner_area * sq - sum * sum;
        let inv_norm = if nf > 0.0 { 1.0 / nf.sqrt() } else { 1.0 } as f32;
        let base = y * ii.stride() + x;
        let s = &ii.sum;
        let feature = |f: usize| -> f32 {
            let mut v = 0.0f32;
            for &(a, b, c, d, w) in &offsets[f] {
                if w != 0.0 {
                    // SAFETY: `detect_raw` only evaluates windows that lie inside the integral
                    // image (x ≤ width − window, y ≤ height − window) and every feature rect lies
                    // inside the window, so all four corners are in bounds (checked in debug).
                    debug_assert!(base + d < s.len());
                    let r = unsafe {
                        s.get_unchecked(base + d) - s.get_unchecked(base + b) - s.get_unchecked(base + c)
                            + s.get_unchecked(base + a)
                    };
                    v += w * r as f32;
                }
            }
            v * inv_norm
        };
        for (si, stage) in self.stages.iter().enumerate() {
            let mut total = 0.0f32;
            if let Some(stumps) = &stage.stumps {
                for st in stumps {
                    total += if feature(st.feature as usize) < st.threshold { st.left } else { st.right };
                }
            } else {
                for weak in &stage.weak {
                    let mut idx = 0i32;
                    let leaf = loop {
                        let n = &weak.nodes[idx as usize];
                        idx = if feature(n.feature) < n.threshold { n.left } else { n.right };
                        if idx <= 0 {
                            break weak.leaves[(-idx) as usize];
                        }
                    };
                    total += leaf;
                }
            }
            if total < stage.threshold {
                return -(si as i32);
            }
        }
        1
    }
}

/// OpenCV's `groupRectangles`: clusters similar rectangles, drops clusters with
/// `≤ group_threshold` members, averages each cluster and removes clusters inside a stronger
/// one. Returns (rectangle, cluster size).
pub fn group_rectangles(rects: &mut [Rect], group_threshold: usize, eps: f64) -> Vec<(Rect, usize)> {
    let n = rects.len();
    if group_threshold == 0 {
        return rects.iter().map(|&r| (r, 1)).collect();
    }
    // Union–find partition by the similarity predicate.
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let similar = |a: &Rect, b: &Rect| {
        let delta = eps * (a.w.min(b.w) + a.h.min(b.h)) as f64 * 0.5;
        (a.x - b.x).abs() as f64 <= delta
            && (a.y - b.y).abs() as f64 <= delta
            && (a.x + a.w - b.x - b.w).abs() as f64 <= delta
            && (a.y + a.h - b.y - b.h).abs() as f64 <= delta
    };
    for i in 0..n {
        for j in i + 1..n {
            if similar(&rects[i], &rects[j]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[b] = a;
                }
            }
        }
    }
    let mut label_of = std::collections::HashMap::new();
    let mut sums: Vec<([i64; 4], usize)> = Vec::new();
    for (i, &r) in rects.iter().enumerate() {
        let root = find(&mut parent, i);
        let next = label_of.len();
        let l = *label_of.entry(root).or_insert(next);
        if l == sums.len() {
            sums.push(([0; 4], 0));
        }
        let s = &mut sums[l];
        s.0[0] += i64::from(r.x);
        s.0[1] += i64::from(r.y);
        s.0[2] += i64::from(r.w);
        s.0[3] += i64::from(r.h);
        s.1 += 1;
    }
    let avg: Vec<(Rect, usize)> = sums
        .iter()
        .map(|(s, c)| {
            let k = 1.0 / *c as f64;
            let r = |v: i64| (v as f64 * k).round() as i32;
            (Rect::new(r(s[0]), r(s[1]), r(s[2]), r(s[3])), *c)
        })
        .collect();
    let mut out = Vec::new();
    for (i, &(r1, n1)) in avg.iter().enumerate() {
        if n1 <= group_threshold {
            continue;
        }
        let swallowed = avg.iter().enumerate().any(|(j, &(r2, n2))| {
            if j == i || n2 <= group_threshold {
                return false;
            }
            let dx = (r2.w as f64 * eps) as i32;
            let dy = (r2.h as f64 * eps) as i32;
            r1.x >= r2.x - dx
                && r1.y >= r2.y - dy
                && r1.x + r1.w <= r2.x + r2.w + dx
                && r1.y + r1.h <= r2.y + r2.h + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !swallowed {
            out.push((r1, n1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const TINY: &str = r#"<?xml version="1.0"?>
<opencv_storage><cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
<featureType>HAAR</featureType><height>4</height><width>4</width>
<stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.5</stageThreshold><weakClassifiers>
<_><internalNodes>0 -1 0 0.1</internalNodes><leafValues>0.0 1.0</leafValues></_>
</weakClassifiers></_></stages>
<features><_><rects><_>0 0 4 2 -1.</_><_>0 2 4 2 1.</_></rects></_></features>
</cascade></opencv_storage>"#;

    #[test]
    fn hostile_cascades_are_refused_not_run() {
        // A rect whose coordinates would wrap the bounds check, non-finite values, a tree node
        // that points back to itself (an endless loop when evaluated), a leaf that does not exist.
        let cases = [
            TINY.replace("<_>0 0 4 2 -1.</_>", "<_>1e30 0 1e30 2 -1.</_>"),
            TINY.replace("<_>0 0 4 2 -1.</_>", "<_>18446744073709551615 0 1 2 -1.</_>"),
            TINY.replace("<_>0 0 4 2 -1.</_>", "<_>0 0 4 2 nan</_>"),
            TINY.replace("0 -1 0 0.1", "1 -1 0 0.1 1 -1 0 0.1"),
            TINY.replace("0 -1 0 0.1", "1 -1 0 0.1 2 -1 0 0.1 1 -1 0 0.1"),
            TINY.replace("0 -1 0 0.1", "0 -5 0 0.1"),
            TINY.replace("0 -1 0 0.1", "0 -1 0 inf"),
        ];
        for (i, xml) in cases.iter().enumerate() {
            assert_ne!(xml, TINY, "case {i} must change the cascade");
            match Cascade::from_xml(xml) {
                Err(CascadeError::Malformed(m)) => println!("case {i}: {m}"),
                other => panic!("case {i}: {:?}", other.map(|_| "loaded")),
            }
        }
        // A proper two-node tree (child after parent) still loads.
        let tree = TINY.replace("0 -1 0 0.1", "1 -1 0 0.1 0 -2 0 0.2").replace("0.0 1.0", "0.0 1.0 0.5");
        assert!(Cascade::from_xml(&tree).is_ok());
    }

    #[test]
    fn parses_and_evaluates_a_tiny_cascade() {
        let c = Cascade::from_xml(TINY).unwrap();
        assert_eq!((c.stage_count(), c.weak_count(), c.feature_count()), (1, 1, 1));
        // Dark top half, bright bottom half: the feature (bottom − top) is positive → accepted.
        let img = Gray::from_fn(4, 4, |x, y| if y >= 2 { 200 } else { 10 + x as u8 });
        let ii = Integral::new(&img);
        let mut off = Vec::new();
        c.prepare_offsets(ii.stride(), &mut off);
        assert_eq!(c.run_at(&ii, &off, 0, 0), 1);
        let flipped = Gray::from_fn(4, 4, |x, y| if y < 2 { 200 } else { 10 + x as u8 });
        let ii = Integral::new(&flipped);
        assert_eq!(c.run_at(&ii, &off, 0, 0), 0);
    }

    #[test]
    fn bad_cascades_are_errors() {
        assert!(matches!(Cascade::from_xml("not xml"), Err(CascadeError::Xml(_))));
        assert!(matches!(Cascade::from_xml("<a><b/></a>"), Err(CascadeError::Unsupported(_))));
        let bad_feature = TINY.replace("0 -1 0 0.1", "0 -1 5 0.1");
        assert!(matches!(Cascade::from_xml(&bad_feature), Err(CascadeError::Malformed(_))));
        let tilted = TINY.replace("</rects></_>", "</rects><tilted>1</tilted></_>");
        assert!(matches!(Cascade::from_xml(&tilted), Err(CascadeError::Unsupported(_))));
        let outside = TINY.replace("0 2 4 2 1.", "0 3 4 2 1.");
        assert!(matches!(Cascade::from_xml(&outside), Err(CascadeError::Malformed(_))));
    }

    #[test]
    fn grouping_follows_opencv() {
        let mut rects = vec![
            Rect::new(100, 100, 50, 50),
            Rect::new(102, 101, 50, 50),
            Rect::new(98, 99, 52, 52),
            Rect::new(300, 300, 40, 40), // alone: dropped with min_neighbors 2
        ];
        let g = group_rectangles(&mut rects, 2, 0.2);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1, 3);
        assert_eq!(g[0].0, Rect::new(100, 100, 51, 51));
        // A weak cluster inside a strong one is removed.
        let mut rects: Vec<Rect> = (0..6).map(|i| Rect::new(100 + i % 2, 100, 100, 100)).collect();
        rects.extend((0..3).map(|i| Rect::new(130 + i % 2, 130, 30, 30)));
        let g = group_rectangles(&mut rects, 2, 0.2);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].1, 6);
    }
}

/// Property tests of the cascade loader: `PROPTEST_CASES` sets the number of cases (256 by
/// default; the bundled-cascade case runs a quarter as many, each parses 0.7 MB); README
/// "Robustness" gives the long-run command.
#[cfg(test)]
mod props {
    use super::tests::TINY;
    use super::*;
    use proptest::prelude::*;

    /// Whatever loads must detect on an image without panicking or looping.
    fn load_and_run(xml: &str) {
        if let Ok(c) = Cascade::from_xml(xml) {
            let img = Gray::from_fn(48, 40, |x, y| ((x * 7 + y * 13) % 251) as u8);
            let p = DetectParams { min_size: 4, ..DetectParams::default() };
            let _ = c.detect(&img, &p);
        }
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|v| v.to_string()),
            any::<i64>().prop_map(|v| v.to_string()),
            (-3i32..300).prop_map(|v| v.to_string()),
            prop::sample::select(vec!["NaN", "inf", "-inf", "1e308", "-0", "4294967296", "", "x"])
                .prop_map(String::from),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_cases(1))]
        #[test]
        fn any_text_is_refused_or_runs(text in any::<String>()) {
            load_and_run(&text);
        }

        /// The tiny cascade with each number replaced (rects, tree nodes, leaves, thresholds,
        /// window size).
        #[test]
        fn the_tiny_cascade_with_numbers_replaced(
            picks in prop::collection::vec((any::<prop::sample::Index>(), number()), 1..6),
        ) {
            let mut tokens: Vec<String> = Vec::new();
            let mut rest = TINY;
            // Split into alternating non-number / number runs.
            while !rest.is_empty() {
                let digit = |c: char| c.is_ascii_digit() || c == '-' || c == '.';
                let first_is = rest.starts_with(digit);
                let end = rest.find(|c: char| digit(c) != first_is).unwrap_or(rest.len());
                tokens.push(rest[..end].to_string());
                rest = &rest[end..];
            }
            let numeric: Vec<usize> =
                (0..tokens.len()).filter(|&i| tokens[i].starts_with(|c: char| c.is_ascii_digit() || c == '-')).collect();
            for (at, value) in picks {
                tokens[numeric[at.index(numeric.len())]] = value;
            }
            load_and_run(&tokens.concat());
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_cases(4))]
        #[test]
        fn the_bundled_cascade_with_bytes_changed(
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"0123456789-. <>/_e".to_vec())), 1..6),
        ) {
            let mut bytes = crate::FRONTALFACE_ALT.as_bytes().to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            load_and_run(&String::from_utf8_lossy(&bytes));
        }
    }
}
