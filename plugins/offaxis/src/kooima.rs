//! Kooima, "Generalized Perspective Projection" (2008): the exact asymmetric frustum through a
//! physical screen rectangle from an eye position, with Bevy's conventions (right-handed,
//! reverse-Z, infinite far plane).

use glam::{Mat3, Mat4, Vec3, Vec4};

/// A physical screen: three corners in world units (e.g. cm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhysicalScreen {
    pub lower_left: Vec3,
    pub lower_right: Vec3,
    pub upper_left: Vec3,
}

impl PhysicalScreen {
    /// A `width × height` screen centred at the origin in the z = 0 plane, facing +z.
    pub fn centered(width: f32, height: f32) -> Self {
        let (w, h) = (width / 2.0, height / 2.0);
        PhysicalScreen {
            lower_left: Vec3::new(-w, -h, 0.0),
            lower_right: Vec3::new(w, -h, 0.0),
            upper_left: Vec3::new(-w, h, 0.0),
        }
    }

    pub fn upper_right(&self) -> Vec3 {
        self.lower_right + (self.upper_left - self.lower_left)
    }

    /// Right, up and normal (towards the viewer) unit vectors.
    pub fn basis(&self) -> (Vec3, Vec3, Vec3) {
        let vr = (self.lower_right - self.lower_left).normalize();
        let vu = (self.upper_left - self.lower_left).normalize();
        (vr, vu, vr.cross(vu).normalize())
    }

    /// The four corners: lower-left, lower-right, upper-right, upper-left.
    pub fn corners(&self) -> [Vec3; 4] {
        [self.lower_left, self.lower_right, self.upper_right(), self.upper_left]
    }
}

/// The frustum extents on the near plane, in the screen-aligned eye frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frustum {
    pub left: f32,
    pub right: f32,
    pub bottom: f32,
    pub top: f32,
    pub near: f32,
}

impl Frustum {
    /// The extents for `eye` looking through `screen`; `None` if the eye is on or behind the
    /// screen plane.
    pub fn new(screen: &PhysicalScreen, eye: Vec3, near: f32) -> Option<Frustum> {
        let (vr, vu, vn) = screen.basis();
        let va = screen.lower_left - eye;
        let vb = screen.lower_right - eye;
        let vc = screen.upper_left - eye;
        let d = -va.dot(vn);
        if d.is_nan() || d <= 1e-6 || near.is_nan() || near <= 0.0 {
            return None;
        }
        let k = near / d;
        Some(Frustum { left: vr.dot(va) * k, right: vr.dot(vb) * k, bottom: vu.dot(va) * k, top: vu.dot(vc) * k, near })
    }

    /// Reverse-Z, infinite-far clip matrix (Bevy's convention): view-space z = −near maps to
    /// NDC depth 1, infinity to 0.
    pub fn clip_from_view(&self) -> Mat4 {
        let Frustum { left: l, right: r, bottom: b, top: t, near: n } = *self;
        Mat4::from_cols(
            Vec4::new(2.0 * n / (r - l), 0.0, 0.0, 0.0),
            Vec4::new(0.0, 2.0 * n / (t - b), 0.0, 0.0),
            Vec4::new((r + l) / (r - l), (t + b) / (t - b), 0.0, -1.0),
            Vec4::new(0.0, 0.0, n, 0.0),
        )
    }

    /// The four corners of the near plane at view-space depth `z` (negative), in view space:
    /// the frustum's cross-section there.
    pub fn corners_at(&self, z: f32) -> [Vec3; 4] {
        let s = -z / self.near;
        [
            Vec3::new(self.left * s, self.bottom * s, z),
            Vec3::new(self.right * s, self.bottom * s, z),
            Vec3::new(self.right * s, self.top * s, z),
            Vec3::new(self.left * s, self.top * s, z),
        ]
    }
}

/// The camera orientation for a screen: looking along −normal with the screen's up.
pub fn camera_rotation(screen: &PhysicalScreen) -> glam::Quat {
    let (vr, vu, vn) = screen.basis();
    glam::Quat::from_mat3(&Mat3::from_cols(vr, vu, vn))
}

/// World → view for an eye at `eye` oriented by [`camera_rotation`].
pub fn view_from_world(screen: &PhysicalScreen, eye: Vec3) -> Mat4 {
    Mat4::from_rotation_translation(camera_rotation(screen), eye).inverse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnd(rng: &mut rand::rngs::StdRng) -> f32 {
        rand::RngExt::random::<f32>(rng)
    }

    #[test]
    fn screen_corners_land_on_the_ndc_corners() {
        let mut s = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let screens = [
            PhysicalScreen::centered(34.0, 19.0),
            // A tilted, off-centre screen.
            PhysicalScreen {
                lower_left: Vec3::new(-20.0, -5.0, -3.0),
                lower_right: Vec3::new(18.0, -4.0, 4.0),
                upper_left: Vec3::new(-20.5, 18.0, -2.0),
            },
        ];
        for screen in screens {
            // Keep the corner vectors orthogonal as Kooima requires.
            let (vr, vu, _) = screen.basis();
            let up = vu - vr * vu.dot(vr);
            let h = (screen.upper_left - screen.lower_left).length();
            let screen = PhysicalScreen { upper_left: screen.lower_left + up.normalize() * h, ..screen };
            let (_, _, vn) = screen.basis();
            for _ in 0..200 {
                let eye = screen.lower_left
                    + (screen.lower_right - screen.lower_left) * (rnd(&mut s) * 3.0 - 1.0)
                    + (screen.upper_left - screen.lower_left) * (rnd(&mut s) * 3.0 - 1.0)
                    + vn * (10.0 + rnd(&mut s) * 120.0);
                let f = Frustum::new(&screen, eye, 0.5 + rnd(&mut s) * 5.0).unwrap();
                let m = f.clip_from_view() * view_from_world(&screen, eye);
                let want = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
                for (c, (wx, wy)) in screen.corners().iter().zip(want) {
                    let p = m * c.extend(1.0);
                    let ndc = p.truncate() / p.w;
                    assert!((ndc.x - wx).abs() < 1e-5 && (ndc.y - wy).abs() < 1e-5, "eye {eye}: {ndc}");
                    assert!(ndc.z > 0.0 && ndc.z <= 1.0);
                }
            }
        }
    }

    #[test]
    fn frustum_corners_agree_with_the_clip_matrix() {
        let screen = PhysicalScreen::centered(30.0, 20.0);
        let f = Frustum::new(&screen, Vec3::new(7.0, -3.0, 55.0), 1.0).unwrap();
        let clip = f.clip_from_view();
        for z in [-1.0, -10.0, -250.0] {
            for (c, (wx, wy)) in f.corners_at(z).iter().zip([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]) {
                let p = clip * c.extend(1.0);
                assert!((p.x / p.w - wx).abs() < 1e-5 && (p.y / p.w - wy).abs() < 1e-5);
            }
        }
        // Near plane → depth 1, far away → towards 0 (reverse Z).
        let near = clip * Vec3::new(0.0, 0.0, -1.0).extend(1.0);
        assert!((near.z / near.w - 1.0).abs() < 1e-6);
        assert!(Frustum::new(&screen, Vec3::new(0.0, 0.0, -5.0), 1.0).is_none());
    }
}
