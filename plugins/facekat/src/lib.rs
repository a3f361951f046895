//! FaceKat. Core: [`sim`] (no Bevy): the whole game as a seeded simulation. [`plugin`]: the
//! Bevy screen.

pub mod plugin;
pub mod sim;
pub mod sound;

pub use plugin::{FaceKatPlugin, FaceKatSeed, FaceKatSound, FaceKatSystems, HighScore, NewHighScore, Phase, Run};
pub use sim::{Event, Game, Input, Pattern, Rules};
