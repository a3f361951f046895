//! FaceKat. Core: [`sim`] (no Bevy): the whole game as a seeded simulation.

pub mod sim;

pub use sim::{Event, Game, Input, Pattern, Rules};
