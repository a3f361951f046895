//! headroom: webcam head and face tracking put to work.
//!
//! The binary (`main.rs`) parses the command line ([`cli`]) and hands a ready frame source to
//! [`app::build_app`], which assembles the plugins and the [`screens`].

pub mod app;
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod fit_cmd;
#[cfg(not(target_arch = "wasm32"))]
pub mod gallery_cmd;
pub mod pipeline;
#[cfg(not(target_arch = "wasm32"))]
pub mod probe;
pub mod screens;
pub mod settings;
