//! Head rotation and position from 2D landmarks against a 3D mean face: a perspective-n-point
//! solve (Levenberg–Marquardt on a rotation vector and translation) started from a
//! weak-perspective guess.
//!
//! Camera frame: x right, y down, z forward from the camera (OpenCV's). Head frame: the same
//! axes for a face looking straight into the camera, origin between the pupils.

use glam::{DMat3, DVec3, Mat3};

/// A landmark of the mean face: clmtrackr point index and position in cm (head frame).
#[derive(Clone, Copy, Debug)]
pub struct FacePoint {
    pub index: usize,
    pub pos: [f64; 3],
}

/// A generic adult face (anthropometric averages, cm): pupils 6.3 apart, eye corners, nose tip,
/// mouth corners and chin, in clmtrackr's numbering.
pub const MEAN_FACE: [FacePoint; 11] = [
    FacePoint { index: 27, pos: [-3.15, 0.0, 0.0] },
    FacePoint { index: 32, pos: [3.15, 0.0, 0.0] },
    FacePoint { index: 23, pos: [-4.5, 0.1, 0.8] },
    FacePoint { index: 28, pos: [4.5, 0.1, 0.8] },
    FacePoint { index: 25, pos: [-1.6, 0.1, 0.4] },
    FacePoint { index: 30, pos: [1.6, 0.1, 0.4] },
    FacePoint { index: 62, pos: [0.0, 3.6, -1.9] },
    FacePoint { index: 37, pos: [0.0, 4.6, -0.9] },
    FacePoint { index: 44, pos: [-2.4, 6.6, 0.2] },
    FacePoint { index: 50, pos: [2.4, 6.6, 0.2] },
    FacePoint { index: 7, pos: [0.0, 10.8, 0.4] },
];

/// Pinhole camera: focal length and principal point, in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    pub focal: f64,
    pub cx: f64,
    pub cy: f64,
}

impl Camera {
    /// From the horizontal field of view (radians) and the image size.
    pub fn from_fov(hfov: f64, width: f64, height: f64) -> Self {
        Camera { focal: width / 2.0 / (hfov / 2.0).tan(), cx: width / 2.0, cy: height / 2.0 }
    }

    pub fn project(&self, p: DVec3) -> [f64; 2] {
        [self.cx + self.focal * p.x / p.z, self.cy + self.focal * p.y / p.z]
    }

    pub fn hfov(&self) -> f64 {
        2.0 * (self.cx / self.focal).atan()
    }
}

/// A head pose: `p_camera = rotation · p_head + translation` (cm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub rotation: DMat3,
    pub translation: DVec3,
}

impl Pose {
    /// Yaw (turn, about y), pitch (nod, about x), roll (tilt, about z), radians, for
    /// `R = Ry(yaw) · Rx(pitch) · Rz(roll)`.
    pub fn yaw_pitch_roll(&self) -> (f64, f64, f64) {
        let m = self.rotation;
        // For Ry·Rx·Rz: row 1 of column 2 is −sin(pitch); column 2's x and z give the yaw;
        // row 1 of columns 0 and 1 give the roll.
        let pitch = (-m.z_axis.y).clamp(-1.0, 1.0).asin();
        let yaw = m.z_axis.x.atan2(m.z_axis.z);
        let roll = m.x_axis.y.atan2(m.y_axis.y);
        (yaw, pitch, roll)
    }

    pub fn from_yaw_pitch_roll(yaw: f64, pitch: f64, roll: f64, translation: DVec3) -> Self {
        Pose {
            rotation: DMat3::from_rotation_y(yaw) * DMat3::from_rotation_x(pitch) * DMat3::from_rotation_z(roll),
            translation,
        }
    }

    pub fn rotation_f32(&self) -> Mat3 {
        self.rotation.as_mat3()
    }
}

fn rodrigues(r: DVec3) -> DMat3 {
    let angle = r.length();
    if angle < 1e-12 {
        return DMat3::IDENTITY;
    }
    DMat3::from_axis_angle(r / angle, angle)
}

fn rotation_vector(m: DMat3) -> DVec3 {
    let q = glam::DQuat::from_mat3(&m);
    let (axis, angle) = q.to_axis_angle();
    axis * angle
}

/// Solves the pose from image points `observed[i]` of `model[i]`. `None` with fewer than 4
/// points or a degenerate solve.
pub fn solve_pose(model: &[[f64; 3]], observed: &[[f64; 2]], cam: &Camera, init: Option<Pose>) -> Option<Pose> {
    let n = model.len().min(observed.len());
    if n < 4 {
        return None;
    }
    // Weak-perspective start: depth from the model's spread vs the image's.
    let start = init.unwrap_or_else(|| {
        let mc = model[..n].iter().fold(DVec3::ZERO, |a, p| a + DVec3::from(*p)) / n as f64;
        let (ox, oy) = observed[..n].iter().fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
        let (ox, oy) = (ox / n as f64, oy / n as f64);
        let spread_m: f64 = model[..n].iter().map(|p| (DVec3::from(*p) - mc).truncate().length()).sum();
        let spread_i: f64 = observed[..n].iter().map(|p| ((p[0] - ox).powi(2) + (p[1] - oy).powi(2)).sqrt()).sum();
        let z = cam.focal * spread_m / spread_i.max(1e-9);
        let t = DVec3::new((ox - cam.cx) * z / cam.focal, (oy - cam.cy) * z / cam.focal, z) - mc;
        Pose { rotation: DMat3::IDENTITY, translation: t }
    });
    let residual = |x: &[f64; 6]| -> Vec<f64> {
        let r = rodrigues(DVec3::new(x[0], x[1], x[2]));
        let t = DVec3::new(x[3], x[4], x[5]);
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let p = r * DVec3::from(model[i]) + t;
            let q = if p.z > 1e-6 { cam.project(p) } else { [1e9, 1e9] };
            out.push(q[0] - observed[i][0]);
            out.push(q[1] - observed[i][1]);
        }
        out
    };
    let rv = rotation_vector(start.rotation);
    let mut x = [rv.x, rv.y, rv.z, start.translation.x, start.translation.y, start.translation.z];
    let mut res = residual(&x);
    let mut cost: f64 = res.iter().map(|v| v * v).sum();
    let mut lambda = 1e-3;
    for _ in 0..100 {
        // Numerical Jacobian (6 columns).
        let mut jac = vec![[0.0f64; 6]; 2 * n];
        for k in 0..6 {
            let h = if k < 3 { 1e-6 } else { 1e-5 };
            let mut xp = x;
            xp[k] += h;
            let rp = residual(&xp);
            for (row, (a, b)) in jac.iter_mut().zip(rp.iter().zip(&res)) {
                row[k] = (a - b) / h;
            }
        }
        let mut jtj = [0.0f64; 36];
        let mut jtr = [0.0f64; 6];
        for (row, r) in jac.iter().zip(&res) {
            for a in 0..6 {
                jtr[a] += row[a] * r;
                for b in 0..6 {
                    jtj[a * 6 + b] += row[a] * row[b];
                }
            }
        }
        let mut improved = false;
        for _ in 0..10 {
            let mut a = jtj;
            for d in 0..6 {
                a[d * 6 + d] *= 1.0 + lambda;
            }
            let Some(step) = solve6(&a, &jtr) else { break };
            let mut xn = x;
            for k in 0..6 {
                xn[k] -= step[k];
            }
            let rn = residual(&xn);
            let cn: f64 = rn.iter().map(|v| v * v).sum();
            if cn < cost {
                x = xn;
                res = rn;
                improved = (cost - cn) > 1e-14 * (1.0 + cost);
                cost = cn;
                lambda = (lambda * 0.3).max(1e-9);
                break;
            }
            lambda *= 10.0;
        }
        if !improved || cost < 1e-16 {
            break;
        }
    }
    let pose = Pose { rotation: rodrigues(DVec3::new(x[0], x[1], x[2])), translation: DVec3::new(x[3], x[4], x[5]) };
    (pose.translation.z > 0.0 && cost.is_finite()).then_some(pose)
}

fn solve6(a: &[f64; 36], b: &[f64; 6]) -> Option<[f64; 6]> {
    let mut m = *a;
    let mut x = *b;
    for c in 0..6 {
        let p = (c..6).max_by(|&i, &j| m[i * 6 + c].abs().total_cmp(&m[j * 6 + c].abs()))?;
        if m[p * 6 + c].abs() < 1e-18 {
            return None;
        }
        for k in 0..6 {
            m.swap(p * 6 + k, c * 6 + k);
        }
        x.swap(p, c);
        for r in c + 1..6 {
            let f = m[r * 6 + c] / m[c * 6 + c];
            for k in c..6 {
                m[r * 6 + k] -= f * m[c * 6 + k];
            }
            x[r] -= f * x[c];
        }
    }
    for c in (0..6).rev() {
        let mut s = x[c];
        for k in c + 1..6 {
            s -= m[c * 6 + k] * x[k];
        }
        x[c] = s / m[c * 6 + c];
    }
    Some(x)
}

/// The pose from clmtrackr's 71 points against [`MEAN_FACE`].
pub fn pose_from_landmarks(points: &[[f32; 2]], cam: &Camera, init: Option<Pose>) -> Option<Pose> {
    let (model, obs): (Vec<[f64; 3]>, Vec<[f64; 2]>) = MEAN_FACE
        .iter()
        .filter(|f| f.index < points.len())
        .map(|f| (f.pos, [f64::from(points[f.index][0]), f64::from(points[f.index][1])]))
        .unzip();
    solve_pose(&model, &obs, cam, init)
}

/// The head model for the face mesh: the canonical face's rigid vertices, moved so that the
/// origin is between the eyes (the midpoint of the four eye corners), as [`MEAN_FACE`]'s.
/// Parsed once per process.
pub fn mesh_model() -> Option<MeshModel> {
    static MODEL: std::sync::OnceLock<Option<MeshModel>> = std::sync::OnceLock::new();
    MODEL.get_or_init(build_mesh_model).clone()
}

/// Mesh vertex index and its position in the head frame (cm).
pub type MeshModel = Vec<(usize, [f64; 3])>;

fn build_mesh_model() -> Option<MeshModel> {
    let canon = headroom_face::nn::canonical_face().ok()?;
    let eyes = [33usize, 133, 362, 263];
    let mut o = [0f64; 3];
    for &i in &eyes {
        for k in 0..3 {
            o[k] += f64::from(canon[i][k]) / 4.0;
        }
    }
    Some(
        headroom_face::nn::RIGID_VERTICES
            .iter()
            .map(|&i| {
                (i, [f64::from(canon[i][0]) - o[0], f64::from(canon[i][1]) - o[1], f64::from(canon[i][2]) - o[2]])
            })
            .collect(),
    )
}

/// The pose from the face mesh's points (frame pixels) against [`mesh_model`].
pub fn pose_from_mesh(
    mesh: &[[f32; 3]],
    model: &[(usize, [f64; 3])],
    cam: &Camera,
    init: Option<Pose>,
) -> Option<Pose> {
    let (m, obs): (Vec<[f64; 3]>, Vec<[f64; 2]>) = model
        .iter()
        .filter(|(i, _)| *i < mesh.len())
        .map(|&(i, p)| (p, [f64::from(mesh[i][0]), f64::from(mesh[i][1])]))
        .unzip();
    solve_pose(&m, &obs, cam, init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_poses_within_a_degree_and_a_centimetre() {
        let cam = Camera::from_fov(60f64.to_radians(), 640.0, 480.0);
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let mut rnd = || rng.random::<f64>();
        for _ in 0..200 {
            let (yaw, pitch, roll) = (
                (rnd() - 0.5) * 60f64.to_radians(),
                (rnd() - 0.5) * 50f64.to_radians(),
                (rnd() - 0.5) * 40f64.to_radians(),
            );
            let t = DVec3::new((rnd() - 0.5) * 30.0, (rnd() - 0.5) * 20.0, 40.0 + rnd() * 60.0);
            let truth = Pose::from_yaw_pitch_roll(yaw, pitch, roll, t);
            let mut points = vec![[0.0f32; 2]; 71];
            for f in &MEAN_FACE {
                let q = cam.project(truth.rotation * DVec3::from(f.pos) + truth.translation);
                points[f.index] = [q[0] as f32, q[1] as f32];
            }
            let got = pose_from_landmarks(&points, &cam, None).expect("a pose");
            let (y2, p2, r2) = got.yaw_pitch_roll();
            let deg = |a: f64, b: f64| (a - b).to_degrees().abs();
            assert!(
                deg(y2, yaw) < 1.0 && deg(p2, pitch) < 1.0 && deg(r2, roll) < 1.0,
                "{:?} vs {:?}",
                (y2, p2, r2),
                (yaw, pitch, roll)
            );
            assert!((got.translation - t).length() < 1.0, "{} vs {t}", got.translation);
        }
    }

    #[test]
    fn recovers_known_poses_from_the_mesh_model() {
        let cam = Camera::from_fov(60f64.to_radians(), 640.0, 480.0);
        let model = mesh_model().expect("canonical face loads");
        let canon = headroom_face::nn::canonical_face().unwrap();
        for (yaw, pitch, roll) in [(0.0, 0.0, 0.0), (0.4, -0.2, 0.1), (-0.5, 0.3, -0.25)] {
            let truth = Pose::from_yaw_pitch_roll(yaw, pitch, roll, DVec3::new(4.0, -3.0, 55.0));
            // All 468 points projected (the solver uses only the rigid ones).
            let o = model[0].1;
            let shift =
                [f64::from(canon[33][0]) - o[0], f64::from(canon[33][1]) - o[1], f64::from(canon[33][2]) - o[2]];
            let mesh: Vec<[f32; 3]> = canon
                .iter()
                .map(|p| {
                    let v =
                        DVec3::new(f64::from(p[0]) - shift[0], f64::from(p[1]) - shift[1], f64::from(p[2]) - shift[2]);
                    let q = cam.project(truth.rotation * v + truth.translation);
                    [q[0] as f32, q[1] as f32, 0.0]
                })
                .collect();
            let got = pose_from_mesh(&mesh, &model, &cam, None).expect("a pose");
            let (y2, p2, r2) = got.yaw_pitch_roll();
            let deg = |a: f64, b: f64| (a - b).to_degrees().abs();
            assert!(deg(y2, yaw) < 0.5 && deg(p2, pitch) < 0.5 && deg(r2, roll) < 0.5, "{:?}", (y2, p2, r2));
            assert!((got.translation - truth.translation).length() < 0.5, "{}", got.translation);
        }
    }

    #[test]
    fn euler_round_trip_and_too_few_points() {
        let p = Pose::from_yaw_pitch_roll(0.3, -0.2, 0.1, DVec3::new(0.0, 0.0, 50.0));
        let (y, pi, r) = p.yaw_pitch_roll();
        assert!((y - 0.3).abs() < 1e-9 && (pi + 0.2).abs() < 1e-9 && (r - 0.1).abs() < 1e-9);
        let cam = Camera::from_fov(1.0, 640.0, 480.0);
        assert!(solve_pose(&[[0.0; 3]; 3], &[[0.0; 2]; 3], &cam, None).is_none());
        assert!((cam.hfov() - 1.0).abs() < 1e-12);
    }
}
