//! The Barnes–Hut 2^D-tree t-SNE's repulsion is approximated with (θ = 0.5).

#![allow(clippy::needless_range_loop)]

/// `a − b` and its squared length.
#[inline]
pub(crate) fn diff_sq<const D: usize>(a: &[f32; D], b: &[f32; D]) -> ([f32; D], f32) {
    let mut d = [0.0f32; D];
    let mut d2 = 0.0;
    for k in 0..D {
        d[k] = a[k] - b[k];
        d2 += d[k] * d[k];
    }
    (d, d2)
}

pub(crate) struct Node<const D: usize> {
    pub(crate) com: [f32; D],
    pub(crate) count: u32,
    /// Side length of the cell.
    pub(crate) width: f32,
    /// First child index (children are 2^D consecutive nodes), or 0 for a leaf.
    pub(crate) child: u32,
    /// Leaf: range in `order`.
    pub(crate) start: u32,
    pub(crate) end: u32,
}

pub(crate) struct Tree<const D: usize> {
    pub(crate) nodes: Vec<Node<D>>,
    pub(crate) order: Vec<u32>,
}

impl<const D: usize> Tree<D> {
    pub(crate) fn build(y: &[[f32; D]]) -> Self {
        let n = y.len();
        let mut lo = [f32::INFINITY; D];
        let mut hi = [f32::NEG_INFINITY; D];
        for p in y {
            for a in 0..D {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let mut center = [0.0f32; D];
        let mut half = 1e-6f32;
        for a in 0..D {
            center[a] = (lo[a] + hi[a]) * 0.5;
            half = half.max((hi[a] - lo[a]) * 0.5);
        }
        half *= 1.0 + 1e-4;
        let mut tree = Tree { nodes: Vec::with_capacity(2 * n + 16), order: (0..n as u32).collect() };
        tree.nodes.push(Node { com: [0.0; D], count: 0, width: 2.0 * half, child: 0, start: 0, end: n as u32 });
        let mut scratch = vec![0u32; n];
        tree.split(0, y, center, half, 0, &mut scratch);
        tree
    }

    pub(crate) fn split(
        &mut self,
        node: usize,
        y: &[[f32; D]],
        center: [f32; D],
        half: f32,
        depth: u32,
        scratch: &mut [u32],
    ) {
        let (start, end) = (self.nodes[node].start as usize, self.nodes[node].end as usize);
        let count = end - start;
        let mut com = [0.0f32; D];
        for &i in &self.order[start..end] {
            for a in 0..D {
                com[a] += y[i as usize][a];
            }
        }
        for c in &mut com {
            *c /= count.max(1) as f32;
        }
        self.nodes[node].com = com;
        self.nodes[node].count = count as u32;
        if count <= 1 || depth >= 40 || half < 1e-12 {
            return;
        }
        let nchild = 1usize << D;
        let octant = |p: &[f32; D]| -> usize {
            let mut o = 0;
            for a in 0..D {
                if p[a] >= center[a] {
                    o |= 1 << a;
                }
            }
            o
        };
        // Counting sort of the node's points into its children.
        let mut counts = vec![0usize; nchild + 1];
        for &i in &self.order[start..end] {
            counts[octant(&y[i as usize]) + 1] += 1;
        }
        for c in 0..nchild {
            counts[c + 1] += counts[c];
        }
        let bounds = counts.clone();
        for &i in &self.order[start..end] {
            let o = octant(&y[i as usize]);
            scratch[start + counts[o]] = i;
            counts[o] += 1;
        }
        self.order[start..end].copy_from_slice(&scratch[start..end]);
        let first = self.nodes.len();
        self.nodes[node].child = first as u32;
        for c in 0..nchild {
            self.nodes.push(Node {
                com: [0.0; D],
                count: 0,
                width: half,
                child: 0,
                start: (start + bounds[c]) as u32,
                end: (start + bounds[c + 1]) as u32,
            });
        }
        let h2 = half * 0.5;
        for c in 0..nchild {
            let mut cc = center;
            for a in 0..D {
                cc[a] += if c & (1 << a) != 0 { h2 } else { -h2 };
            }
            if self.nodes[first + c].end > self.nodes[first + c].start {
                self.split(first + c, y, cc, h2, depth + 1, scratch);
            }
        }
    }

    /// Repulsive force numerator Σ q²(y_i − y_j) and the normaliser part Σ q for the point `p`
    /// (whose own index `skip` is excluded).
    pub(crate) fn repulsion(&self, p: &[f32; D], skip: Option<u32>, theta2: f32, y: &[[f32; D]]) -> ([f32; D], f64) {
        let mut force = [0.0f32; D];
        let mut z = 0.0f64;
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        stack.push(0);
        while let Some(ni) = stack.pop() {
            let node = &self.nodes[ni as usize];
            if node.count == 0 {
                continue;
            }
            let (diff, d2) = diff_sq(p, &node.com);
            if node.child == 0 {
                // Leaf: exact over its points.
                for &j in &self.order[node.start as usize..node.end as usize] {
                    if Some(j) == skip {
                        continue;
                    }
                    let (dd, dist2) = diff_sq(p, &y[j as usize]);
                    let w = 1.0 / (1.0 + dist2);
                    z += w as f64;
                    let w2 = w * w;
                    for a in 0..D {
                        force[a] += w2 * dd[a];
                    }
                }
            } else if node.width * node.width < theta2 * d2 {
                let w = 1.0 / (1.0 + d2);
                let cnt = node.count as f32;
                z += (cnt * w) as f64;
                let w2 = cnt * w * w;
                for a in 0..D {
                    force[a] += w2 * diff[a];
                }
            } else {
                for c in 0..(1u32 << D) {
                    stack.push(node.child + c);
                }
            }
        }
        (force, z)
    }
}
