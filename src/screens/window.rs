//! The classic head-coupled "targets" scene: a box room behind the screen with gridded walls,
//! targets at several depths (some in front of the screen plane), seen through the off-axis
//! camera, with the live camera inset.

use bevy::camera::ClearColorConfig;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_capture::{CameraImage, CaptureStatus};
use headroom_head::{HeadPose, HeadSettings};
use headroom_offaxis::OffAxisCamera;

use super::{Screen, preview};

/// Room depth behind the screen, cm.
const ROOM_DEPTH: f32 = 60.0;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(Screen::Window), spawn_scene)
        .add_systems(Update, draw_room.run_if(in_state(Screen::Window)))
        .add_systems(EguiPrimaryContextPass, window_ui.run_if(in_state(Screen::Window)));
}

fn spawn_scene(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    settings: Res<HeadSettings>,
) {
    commands.spawn((
        Name::new("Off-axis camera"),
        OffAxisCamera { world_per_cm: 1.0, near: 1.0, far: 1_000.0 },
        // The UI camera's sample count (with the default 4× the room never showed: issue 21).
        super::CAMERA_MSAA,
        Camera { order: 0, clear_color: ClearColorConfig::Custom(Color::srgb(0.02, 0.02, 0.04)), ..default() },
        DespawnOnExit(Screen::Window),
    ));
    commands.spawn((
        PointLight { intensity: 4.0e6, range: 400.0, shadow_maps_enabled: false, ..default() },
        Transform::from_xyz(0.0, settings.config.screen_height_cm * 0.4, 20.0),
        DespawnOnExit(Screen::Window),
    ));
    commands.insert_resource(GlobalAmbientLight { brightness: 300.0, ..default() });
    let (w, h) = (settings.config.screen_width_cm, settings.config.screen_height_cm);
    let disc = meshes.add(Cylinder::new(1.0, 0.3));
    let stick = meshes.add(Cylinder::new(0.08, 1.0));
    let red = materials.add(StandardMaterial { base_color: Color::srgb(0.9, 0.15, 0.1), ..default() });
    let white = materials.add(StandardMaterial { base_color: Color::WHITE, ..default() });
    let grey = materials.add(StandardMaterial { base_color: Color::srgb(0.5, 0.5, 0.55), ..default() });
    // (x, y) as fractions of the half-screen, z in cm (positive = in front of the screen).
    let targets = [
        (-0.55, 0.4, -50.0),
        (0.5, -0.3, -35.0),
        (-0.2, -0.45, -20.0),
        (0.25, 0.35, -8.0),
        (-0.45, -0.1, 8.0),
        (0.1, 0.05, 15.0),
    ];
    for (i, (fx, fy, z)) in targets.into_iter().enumerate() {
        let pos = Vec3::new(fx * w / 2.0, fy * h / 2.0, z);
        let radius = 2.2;
        // Concentric rings facing the viewer.
        for (k, mat) in [&red, &white, &red].into_iter().enumerate() {
            commands.spawn((
                Name::new(format!("target {i} ring {k}")),
                Mesh3d(disc.clone()),
                MeshMaterial3d(mat.clone()),
                Transform::from_translation(pos + Vec3::Z * (k as f32 * 0.05))
                    .with_rotation(Quat::from_rotation_x(std::f32::consts::FRAC_PI_2))
                    .with_scale(Vec3::new(radius * mat_scale(k), 1.0, radius * mat_scale(k))),
                DespawnOnExit(Screen::Window),
            ));
        }
        // A stick from the back wall, so depth reads at a glance.
        let len = z + ROOM_DEPTH;
        commands.spawn((
            Mesh3d(stick.clone()),
            MeshMaterial3d(grey.clone()),
            Transform::from_translation(Vec3::new(pos.x, pos.y, -ROOM_DEPTH + len / 2.0))
                .with_rotation(Quat::from_rotation_x(std::f32::consts::FRAC_PI_2))
                .with_scale(Vec3::new(1.0, len, 1.0)),
            DespawnOnExit(Screen::Window),
        ));
    }
}

fn mat_scale(k: usize) -> f32 {
    [1.0, 0.66, 0.33][k]
}

/// The room's grid, drawn each frame (walls, floor, ceiling, back).
fn draw_room(mut gizmos: Gizmos, settings: Res<HeadSettings>) {
    let (w, h, d) = (settings.config.screen_width_cm / 2.0, settings.config.screen_height_cm / 2.0, ROOM_DEPTH);
    let color = Color::srgb(0.2, 0.8, 0.9);
    let steps = 8;
    for i in 0..=steps {
        let z = -d * i as f32 / steps as f32;
        // Rings around the room at each depth.
        gizmos.line(Vec3::new(-w, -h, z), Vec3::new(w, -h, z), color);
        gizmos.line(Vec3::new(-w, h, z), Vec3::new(w, h, z), color);
        gizmos.line(Vec3::new(-w, -h, z), Vec3::new(-w, h, z), color);
        gizmos.line(Vec3::new(w, -h, z), Vec3::new(w, h, z), color);
        // Lines running into the room, and the back wall's grid.
        let fx = -w + 2.0 * w * i as f32 / steps as f32;
        let fy = -h + 2.0 * h * i as f32 / steps as f32;
        for (a, b) in [
            (Vec3::new(fx, -h, 0.0), Vec3::new(fx, -h, -d)),
            (Vec3::new(fx, h, 0.0), Vec3::new(fx, h, -d)),
            (Vec3::new(-w, fy, 0.0), Vec3::new(-w, fy, -d)),
            (Vec3::new(w, fy, 0.0), Vec3::new(w, fy, -d)),
            (Vec3::new(fx, -h, -d), Vec3::new(fx, h, -d)),
            (Vec3::new(-w, fy, -d), Vec3::new(w, fy, -d)),
        ] {
            gizmos.line(a, b, color);
        }
    }
}

fn window_ui(
    mut contexts: EguiContexts,
    image: Res<CameraImage>,
    status: Res<CaptureStatus>,
    pose: Res<HeadPose>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    egui::Window::new("Head-coupled window").anchor(egui::Align2::RIGHT_BOTTOM, [-10.0, -10.0]).resizable(false).show(
        &ctx,
        |ui| {
            preview::show(ui, &mut contexts, &image, &status, 220.0);
            ui.label(format!(
                "eye ({:+.1}, {:+.1}, {:.1}) cm · {:?} · confidence {:.2}",
                pose.eye.x, pose.eye.y, pose.eye.z, pose.source, pose.confidence
            ));
            ui.label("Move your head (or the mouse / arrow keys). Esc: menu.");
        },
    );
    Ok(())
}
