//! The gallery. Core (no Bevy): [`ingest`], [`features`] (MobileNetV2 in candle), [`tsne`] (PCA,
//! t-SNE, on the CPU and on headroom-gpu's kernel), [`atlas`], [`manifest`], [`build`] (`headroom build-gallery`), [`cache`] (its feature cache), [`fsio`] (crash-safe writes), [`view`] (layouts,
//! transitions, picking, filters), [`likeness`] (a live face's nearest painted faces). [`plugin`]: the Bevy viewer (with the live relayout on the
//! render device).

pub mod atlas;
pub mod build;
pub mod cache;
pub mod features;
pub mod fsio;
pub mod ingest;
pub mod likeness;
pub mod manifest;
pub mod map;
pub mod view;
pub mod viewer;

/// The map maths under its older name.
pub use map as tsne;
/// The viewer under its older name.
pub use viewer as plugin;
pub use viewer::{
    BecomePainting, Gallery, GalleryPlugin, GalleryRenderTarget, GallerySource, GallerySystems, LiveRelayout,
};
