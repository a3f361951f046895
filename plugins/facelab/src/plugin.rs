//! Bevy glue: feeds each new fit's CLM parameters (with the mesh backend, the 71 points projected
//! onto the CLM's shape model by the face crate) into an [`Expression`] and publishes the
//! read-out as [`FaceReadout`]. [`CaptureNeutral`] takes the current face as the neutral one.

use bevy::prelude::*;
use headroom_face::FaceTracking;

use crate::{Classifiers, Expression, Reading};

/// The latest read-out, for display.
#[derive(Resource, Default, Debug, Clone)]
pub struct FaceReadout {
    /// Emotions and their probabilities (clmtrackr's six), once ten frames of a face are in.
    pub emotions: Option<Reading>,
    /// Female / male probabilities.
    pub gender: Option<Reading>,
    pub has_neutral: bool,
    /// Why there is no read-out at all (the classifier file failed to load).
    pub error: Option<String>,
}

/// Take the current face (the mean of the last ten frames) as this person's neutral face;
/// `CaptureNeutral(false)` forgets it.
#[derive(Message, Clone, Copy, Debug)]
pub struct CaptureNeutral(pub bool);

#[derive(Resource)]
struct Reader {
    expression: Option<Expression>,
    last_seq: Option<u64>,
}

pub struct FaceLabPlugin;

/// Face Lab's systems (in `Update`): the read-out and the effects from the newest fit. Ordered
/// after the face stage by the app.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaceLabSystems;

impl Plugin for FaceLabPlugin {
    fn build(&self, app: &mut App) {
        let (expression, error) = match Classifiers::bundled() {
            Ok(c) => (Some(Expression::new(c)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        app.insert_resource(Reader { expression, last_seq: None })
            .insert_resource(FaceReadout { error, ..default() })
            .add_message::<CaptureNeutral>()
            .add_systems(Update, read_face.in_set(FaceLabSystems));
        crate::effects::build(app);
    }
}

fn read_face(
    tracking: Option<Res<FaceTracking>>,
    mut reader: ResMut<Reader>,
    mut readout: ResMut<FaceReadout>,
    mut capture: MessageReader<CaptureNeutral>,
) {
    let Some(t) = tracking else { return };
    let seq = t.frame_seq;
    let Reader { expression, last_seq } = &mut *reader;
    let Some(e) = expression.as_mut() else { return };
    let mut changed = false;
    if *last_seq != Some(seq) {
        *last_seq = Some(seq);
        changed = true;
        match &t.fit {
            Some(fit) => e.push(&fit.params),
            None => e.clear(),
        }
    }
    for CaptureNeutral(on) in capture.read() {
        changed = true;
        if *on {
            e.capture_neutral();
        } else {
            e.forget_neutral();
        }
    }
    if !changed {
        return;
    }
    readout.emotions = e.emotions();
    readout.gender = e.gender();
    readout.has_neutral = e.has_neutral();
}
