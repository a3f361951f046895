//! Head-coupled perspective. Core: [`kooima`] (no Bevy).

pub mod kooima;

pub use kooima::{Frustum, Screen};
