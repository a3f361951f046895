pub mod atlas;
pub mod build;
pub mod features;
pub mod ingest;
pub mod manifest;
pub mod tsne;
