//! FaceKat played to the end.

use super::*;

#[test]
fn facekat_runs_to_game_over_and_saves_the_high_score() {
    use bevy::time::TimeUpdateStrategy;
    use headroom::settings::SettingsStore;
    use headroom_facekat::{HighScore, Phase, Run};

    let dir = config_dir("facekat");
    let store = SettingsStore::in_dir(&dir);
    let opts = OpenOptions::default();
    let mut app = build_app(AppConfig {
        start: Screen::FaceKat,
        source: open_source(&SourceSpec::Demo, opts).unwrap(),
        notice: None,
        open_options: opts,
        settings: Settings::default(),
        store: Some(store.clone()),
        headless: true,
        facekat_seed: Some(7),
        facelab_effect: None,
        facelab_face: None,
        gallery: None,
        compute: Default::default(),
        tracker: Default::default(),
    });
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 60.0)));
    // Record the sound cues the game asks for.
    #[derive(Resource, Default)]
    struct Cues(Vec<headroom_facekat::sound::Sfx>);
    app.init_resource::<Cues>().add_systems(
        Update,
        |mut r: MessageReader<headroom_facekat::FaceKatSound>, mut cues: ResMut<Cues>| {
            cues.0.extend(r.read().map(|c| c.0));
        },
    );
    app.update();
    app.update();
    assert_eq!(app.world().resource::<Run>().phase, Phase::Ready);
    press(&mut app, KeyCode::Space, Key::Space);
    app.update();
    let release = |app: &mut App, key: KeyCode, logical: Key| {
        app.world_mut().write_message(KeyboardInput {
            key_code: key,
            logical_key: logical,
            state: ButtonState::Released,
            text: None,
            repeat: false,
            window: Entity::PLACEHOLDER,
        });
    };
    release(&mut app, KeyCode::Space, Key::Space);
    // Scripted steering: alternate holding D and A for two seconds each, until the game ends.
    let mut frames = 0;
    while app.world().resource::<Run>().phase != Phase::Over && frames < 60 * 60 * 5 {
        match (frames / 120) % 2 {
            0 if frames % 120 == 0 => {
                release(&mut app, KeyCode::KeyA, Key::Character("a".into()));
                press(&mut app, KeyCode::KeyD, Key::Character("d".into()));
            }
            1 if frames % 120 == 0 => {
                release(&mut app, KeyCode::KeyD, Key::Character("d".into()));
                press(&mut app, KeyCode::KeyA, Key::Character("a".into()));
            }
            _ => {}
        }
        app.update();
        frames += 1;
    }
    let run = app.world().resource::<Run>();
    assert_eq!(run.phase, Phase::Over, "no game over after {frames} frames");
    let score = run.game.score();
    assert!(score > 0);
    assert_eq!(app.world().resource::<HighScore>().0, score);
    app.update();
    let (saved, warning) = store.load();
    assert!(warning.is_none());
    assert_eq!(saved.facekat_high_score, score, "the high score reaches the settings file");
    // Sound cues: the start chirp, one per lost life (two; the third hit is the game over), the
    // game-over phrase last.
    use headroom_facekat::sound::Sfx;
    let cues = &app.world().resource::<Cues>().0;
    assert_eq!(cues.first(), Some(&Sfx::Start), "{cues:?}");
    assert_eq!(cues.iter().filter(|&&c| c == Sfx::Hit).count(), 2, "{cues:?}");
    assert_eq!(cues.iter().filter(|&&c| c == Sfx::GameOver).count(), 1, "{cues:?}");
    assert_eq!(cues.last(), Some(&Sfx::GameOver), "{cues:?}");
}
