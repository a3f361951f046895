//! Bevy glue for FaceKat: the obstacle field seen through the head-coupled off-axis camera,
//! steering from [`HeadPose`] (keyboard and mouse as fallback), HUD and start / pause /
//! game-over panels. The game state lives in [`sim::Game`](crate::sim::Game).

use bevy::camera::ClearColorConfig;
use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy::state::state::FreelyMutableState;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use headroom_head::{HeadPose, HeadSettings, PoseSource};
use headroom_offaxis::OffAxisCamera;

use crate::sim::{Event, Game, Input, Rules};
use crate::sound::Sfx;

/// World units per centimetre of screen: the 1200-unit half-width field spans ~3.5 screens.
const WORLD_PER_CM: f32 = 20.0;

/// Best score so far; the app loads and saves it with the settings.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighScore(pub u64);

/// Written when a run beats the high score (the app saves it).
#[derive(Message, Debug, Clone, Copy)]
pub struct NewHighScore(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ready,
    Playing,
    Paused,
    Over,
}

/// The current run.
#[derive(Resource)]
pub struct Run {
    pub game: Game,
    pub phase: Phase,
    pub seed: u64,
    /// Show the calibration hint on the ready panel.
    pub first_play: bool,
}

/// A sound effect to play (written whether or not the `sound` feature is built, so tests and
/// other plugins can follow the game's cues).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceKatSound(pub Sfx);

/// Which seed the next run uses (`headroom play --seed N`); `None` = a new one each run.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FaceKatSeed(pub Option<u64>);

#[derive(Component)]
struct Obstacle(usize);

#[derive(Component)]
struct Rig;

/// FaceKat's systems (in `Update`): steering from the head pose, the simulation step. Ordered
/// after the head stage by the app.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaceKatSystems;

pub struct FaceKatPlugin<S: States> {
    /// The screen this game lives on.
    pub screen: S,
}

impl<S: States + FreelyMutableState + Copy> Plugin for FaceKatPlugin<S> {
    fn build(&self, app: &mut App) {
        let s = self.screen;
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        app.init_resource::<HighScore>()
            .init_resource::<FaceKatSeed>()
            .add_message::<NewHighScore>()
            .add_message::<FaceKatSound>()
            .add_systems(
                OnEnter(s),
                move |commands: Commands,
                      meshes: ResMut<Assets<Mesh>>,
                      materials: ResMut<Assets<StandardMaterial>>,
                      seed: Res<FaceKatSeed>| { spawn(commands, meshes, materials, seed, s) },
            )
            .add_systems(OnExit(s), |mut commands: Commands| commands.remove_resource::<Run>())
            .add_systems(Update, (controls, step, sync).chain().run_if(in_state(s)).in_set(FaceKatSystems))
            .add_systems(EguiPrimaryContextPass, hud.run_if(in_state(s)));
        #[cfg(feature = "sound")]
        app.add_systems(Startup, audio::load).add_systems(Update, audio::play.after(step));
    }
}

fn new_seed(seed: &FaceKatSeed) -> u64 {
    seed.0.unwrap_or_else(|| {
        web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn spawn<S: States + Copy>(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    seed: Res<FaceKatSeed>,
    screen: S,
) {
    let seed = new_seed(&seed);
    let game = Game::new(seed, Rules::default());
    let n = game.obstacles.len();
    commands.insert_resource(Run { game, phase: Phase::Ready, seed, first_play: true });
    commands
        .spawn((Name::new("FaceKat rig"), Rig, Transform::default(), Visibility::default(), DespawnOnExit(screen)))
        .with_children(|rig| {
            rig.spawn((
                OffAxisCamera { world_per_cm: WORLD_PER_CM, near: 10.0, far: 20_000.0 },
                // Flat-shaded cubes need no multisampling; it costs most on software renderers.
                Msaa::Off,
                Camera { order: 0, clear_color: ClearColorConfig::Custom(Color::srgb(0.03, 0.02, 0.08)), ..default() },
                DistanceFog {
                    color: Color::srgb(0.03, 0.02, 0.08),
                    falloff: FogFalloff::Linear { start: 2000.0, end: 6500.0 },
                    ..default()
                },
            ));
        });
    commands.spawn((
        DirectionalLight { illuminance: 6000.0, ..default() },
        Transform::from_xyz(300.0, 800.0, 600.0).looking_at(Vec3::ZERO, Vec3::Y),
        DespawnOnExit(screen),
    ));
    let cube = meshes.add(Cuboid::new(100.0, 100.0, 100.0));
    let palette = [Color::srgb(0.95, 0.3, 0.5), Color::srgb(0.3, 0.8, 0.95), Color::srgb(0.95, 0.8, 0.25)];
    let mats: Vec<_> = palette
        .iter()
        .map(|&c| materials.add(StandardMaterial { base_color: c, emissive: (c.to_linear() * 0.3), ..default() }))
        .collect();
    for i in 0..n {
        commands.spawn((
            Obstacle(i),
            Mesh3d(cube.clone()),
            MeshMaterial3d(mats[i % mats.len()].clone()),
            Transform::default(),
            DespawnOnExit(screen),
        ));
    }
}

/// Space starts, restarts or resumes; P pauses.
fn controls(
    keys: Res<ButtonInput<KeyCode>>,
    mut run: ResMut<Run>,
    seed: Res<FaceKatSeed>,
    mut sound: MessageWriter<FaceKatSound>,
) {
    match run.phase {
        Phase::Ready if keys.just_pressed(KeyCode::Space) => {
            info!("facekat: playing");
            run.phase = Phase::Playing;
            run.first_play = false;
            sound.write(FaceKatSound(Sfx::Start));
        }
        Phase::Playing if keys.just_pressed(KeyCode::KeyP) => run.phase = Phase::Paused,
        Phase::Paused if keys.just_pressed(KeyCode::KeyP) || keys.just_pressed(KeyCode::Space) => {
            run.phase = Phase::Playing;
        }
        Phase::Over if keys.just_pressed(KeyCode::Space) => {
            let s = new_seed(&seed);
            run.game = Game::new(s, Rules::default());
            run.seed = s;
            run.phase = Phase::Playing;
            sound.write(FaceKatSound(Sfx::Start));
        }
        _ => {}
    }
}

/// The steering input: the head (eye position across the screen), else WASD.
pub fn steering(pose: &HeadPose, settings: &HeadSettings, keys: Option<&ButtonInput<KeyCode>>) -> Input {
    let c = &settings.config;
    let mut steer = (pose.eye.x / (c.screen_width_cm / 2.0), pose.eye.y / (c.screen_height_cm / 2.0));
    if let Some(keys) = keys {
        let axis = |neg: KeyCode, pos: KeyCode| {
            f32::from(u8::from(keys.pressed(pos))) - f32::from(u8::from(keys.pressed(neg)))
        };
        let (kx, ky) = (axis(KeyCode::KeyA, KeyCode::KeyD), axis(KeyCode::KeyS, KeyCode::KeyW));
        if kx != 0.0 || ky != 0.0 || pose.source == PoseSource::Rest {
            steer = (kx, ky);
        }
    }
    Input {
        steer: (steer.0.clamp(-1.0, 1.0), steer.1.clamp(-1.0, 1.0)),
        brake: keys.is_some_and(|k| k.pressed(KeyCode::Space)),
    }
}

#[allow(clippy::too_many_arguments)] // a Bevy system: one parameter per resource it touches
fn step(
    time: Res<Time>,
    mut run: ResMut<Run>,
    pose: Res<HeadPose>,
    settings: Res<HeadSettings>,
    keys: Option<Res<ButtonInput<KeyCode>>>,
    mut high: ResMut<HighScore>,
    mut new_high: MessageWriter<NewHighScore>,
    mut sound: MessageWriter<FaceKatSound>,
) {
    if run.phase != Phase::Playing {
        return;
    }
    let input = steering(&pose, &settings, keys.as_deref());
    for e in run.game.step(time.delta_secs(), input) {
        match e {
            Event::GameOver { score } => {
                run.phase = Phase::Over;
                sound.write(FaceKatSound(Sfx::GameOver));
                if score > high.0 {
                    high.0 = score;
                    new_high.write(NewHighScore(score));
                }
            }
            // The last hit is the game over: one sound for it.
            Event::Hit { lives_left } if lives_left > 0 => {
                sound.write(FaceKatSound(Sfx::Hit));
            }
            Event::Hit { .. } => {}
            Event::PatternChanged(_) => {
                sound.write(FaceKatSound(Sfx::Pattern));
            }
        }
    }
}

#[cfg(feature = "sound")]
mod audio {
    use std::collections::HashMap;

    use bevy::audio::{AudioPlayer, AudioSource, PlaybackSettings};
    use bevy::prelude::*;

    use super::FaceKatSound;
    use crate::sound::{Sfx, synth, wav};

    #[derive(Resource)]
    pub struct Sounds(HashMap<Sfx, Handle<AudioSource>>);

    pub fn load(mut commands: Commands, mut sources: ResMut<Assets<AudioSource>>) {
        let map = Sfx::ALL.iter().map(|&s| (s, sources.add(AudioSource { bytes: wav(&synth(s)).into() }))).collect();
        commands.insert_resource(Sounds(map));
    }

    pub fn play(mut commands: Commands, mut cues: MessageReader<FaceKatSound>, sounds: Option<Res<Sounds>>) {
        let Some(sounds) = sounds else { return };
        for FaceKatSound(s) in cues.read() {
            if let Some(h) = sounds.0.get(s) {
                commands.spawn((AudioPlayer::new(h.clone()), PlaybackSettings::DESPAWN));
            }
        }
    }
}

fn sync(
    run: Res<Run>,
    mut rig: Query<&mut Transform, (With<Rig>, Without<Obstacle>)>,
    mut obstacles: Query<(&Obstacle, &mut Transform), Without<Rig>>,
) {
    let g = &run.game;
    if let Ok(mut t) = rig.single_mut() {
        t.translation = Vec3::new(g.camera.0, g.camera.1, 0.0);
    }
    for (o, mut t) in &mut obstacles {
        if let Some(&[x, y, z]) = g.obstacles.get(o.0) {
            t.translation = Vec3::new(x, y, z);
        }
    }
}

fn hud(
    mut contexts: EguiContexts,
    run: Option<Res<Run>>,
    high: Res<HighScore>,
    pose: Res<HeadPose>,
    diagnostics: Option<Res<DiagnosticsStore>>,
) -> Result {
    let Some(run) = run else { return Ok(()) };
    let ctx = contexts.ctx_mut()?.clone();
    let g = &run.game;
    egui::Area::new("facekat_hud".into()).anchor(egui::Align2::LEFT_TOP, [16.0, 12.0]).show(&ctx, |ui| {
        let text = |s: String| egui::RichText::new(s).size(22.0).color(egui::Color32::WHITE).strong();
        ui.label(text(format!("score {}", g.score())));
        ui.label(text(format!("lives {}", "♥".repeat(g.lives as usize))));
        ui.label(text(format!("speed {:.0} / {:.0}", g.speed.max(0.0), g.max_speed)));
        ui.label(text(format!("best {}", high.0)));
        if let Some(ms) =
            diagnostics.as_ref().and_then(|d| d.get(&FrameTimeDiagnosticsPlugin::FRAME_TIME)).and_then(|d| d.smoothed())
        {
            ui.label(egui::RichText::new(format!("frame {ms:.1} ms")).color(egui::Color32::GRAY));
        }
        if pose.source != PoseSource::Tracker {
            ui.label(egui::RichText::new("no face: WASD or mouse steer").color(egui::Color32::YELLOW));
        }
    });
    let panel = |title: &str, lines: &[String]| {
        egui::Window::new(title.to_string())
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .collapsible(false)
            .resizable(false)
            .show(&ctx, |ui| {
                for l in lines {
                    ui.label(egui::RichText::new(l).size(18.0));
                }
            });
    };
    match run.phase {
        Phase::Ready => {
            let mut lines = vec!["Lean to dodge. Space: start (hold to brake). P: pause. Esc: menu.".to_string()];
            if run.first_play {
                lines.push("First time? Calibrate your screen and distance in Settings for a true window.".into());
            }
            panel("FaceKat", &lines);
        }
        Phase::Paused => panel("Paused", &["P or Space: resume".into()]),
        Phase::Over => panel(
            "Game over",
            &[format!("score {} (best {})", g.score(), high.0), "Space: play again · Esc: menu".into()],
        ),
        Phase::Playing => {}
    }
    Ok(())
}
