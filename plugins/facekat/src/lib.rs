//! FaceKat. Core: [`sim`] (no Bevy): the whole game as a seeded simulation. [`plugin`]: the
//! Bevy screen.

pub mod plugin;
pub mod sim;

pub use plugin::{FaceKatPlugin, FaceKatSeed, HighScore, NewHighScore, Phase, Run};
pub use sim::{Event, Game, Input, Pattern, Rules};
