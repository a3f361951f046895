//! headroom: webcam head and face tracking put to work.
//!
//! The binary (`main.rs`) parses the command line ([`cli`]) and hands a ready frame source to
//! [`app::build_app`], which assembles the plugins and the [`screens`].

pub mod app;
pub mod cli;
pub mod fit_cmd;
pub mod gallery_cmd;
pub mod probe;
pub mod screens;
pub mod settings;
