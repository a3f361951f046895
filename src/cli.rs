//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use headroom_capture::SourceSpec;

#[derive(Parser, Debug)]
#[command(
    name = "headroom",
    version,
    about = "Webcam head and face tracking put to work: FaceKat (a head-steered game), a \
             head-coupled 3D art gallery, and a live face lab.",
    after_help = "With no subcommand, opens the start menu. Esc returns to the menu from any screen.\n\
                  Without a webcam, headroom plays its bundled demo clip."
)]
pub struct Cli {
    /// Frame source: webcam, webcam:N, video:PATH (MP4/H.264), images:DIR (JPEG/PNG), demo.
    /// Default: the source saved in Settings, else webcam 0 (the demo clip if there is none).
    #[arg(long, global = true, value_name = "SRC")]
    pub source: Option<SourceSpec>,

    /// Play a video or image sequence once instead of looping it.
    #[arg(long, global = true)]
    pub no_loop: bool,

    /// Frame rate for images:DIR sources.
    #[arg(long, global = true, value_name = "FPS", default_value_t = 30.0)]
    pub fps: f64,

    /// Where the face tracker's patch responses run: auto (whichever measures faster here at
    /// start-up), cpu or gpu.
    #[arg(long, global = true, value_name = "auto|cpu|gpu", default_value = "auto")]
    pub compute: headroom_gpu::ComputeChoice,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Open straight into FaceKat, the head-steered game.
    Play {
        /// Seed for the obstacle field: the same seed and moves replay the same run.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Open straight into the 3D gallery: a manifest from `build-gallery` (or the folder holding
    /// it); default: the bundled demo collection (5,736 public-domain paintings).
    Gallery {
        /// manifest.json, or the output folder of `headroom build-gallery`.
        #[arg(value_name = "MANIFEST|DIR")]
        manifest: Option<PathBuf>,
    },
    /// Open straight into the Face Lab.
    Facelab,
    /// Open straight into the head-coupled window demo (a room behind the screen).
    Window,
    /// List the webcams this machine offers.
    Cameras,
    /// Fit the 71-point face model to an image, a folder of images or an MP4 video; one JSON
    /// record per image or frame (points, score, milliseconds).
    Fit {
        /// Image (JPEG/PNG), folder of images, or MP4 video (tracked frame to frame).
        input: PathBuf,
        /// Write the records here (JSON Lines) instead of standard output.
        #[arg(long, value_name = "OUT")]
        json: Option<PathBuf>,
        /// Write each image or frame with the fitted points drawn on it into this folder (PNG).
        #[arg(long, value_name = "DIR")]
        overlay: Option<PathBuf>,
        /// Which of the model's patch experts to use: raw grey values, Sobel gradient magnitude,
        /// or local binary patterns.
        #[arg(long, value_enum, default_value_t = Patches::Raw)]
        patches: Patches,
    },
    /// Build a gallery from a folder of images: thumbnails and texture atlases, MobileNetV2
    /// features, PCA, 3D and 2D t-SNE maps, similar works, typical works and outliers per period,
    /// and a manifest. Incremental: a re-run computes only new or changed files, an interrupted
    /// build resumes, and new works join the existing map without moving it.
    BuildGallery {
        /// Folder of images (jpg, png, webp, gif, tiff; searched recursively).
        dir: PathBuf,
        /// CSV with a `file` column (matched on the file name) and columns such as title, artist,
        /// year, date, medium, museum, source_url; other columns are kept as free metadata.
        #[arg(long, value_name = "CSV")]
        metadata: Option<PathBuf>,
        /// Output folder (manifest.json, atlases, report.txt, cache/).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        /// Thumbnail tiers, longest side in pixels.
        #[arg(long, value_delimiter = ',', default_value = "128,256")]
        tiers: Vec<u32>,
        /// Atlas encoding: png (lossless) or jpeg (about 6× smaller for paintings and photos).
        #[arg(long, value_enum, default_value_t = AtlasFormatArg::Png)]
        atlas_format: AtlasFormatArg,
        /// Recompute the whole map instead of placing new works into the existing one.
        #[arg(long)]
        relayout: bool,
        /// t-SNE perplexity.
        #[arg(long, default_value_t = 30.0)]
        perplexity: f32,
        /// t-SNE iterations in all (the first 250 with early exaggeration).
        #[arg(long, default_value_t = 750)]
        iterations: usize,
        /// Random seed (the map is deterministic for a seed).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Only the first N images (in path order).
        #[arg(long)]
        limit: Option<usize>,
        /// MobileNetV2 weights (safetensors). Default: the bundled assets/models/mobilenet_v2.safetensors.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// The gallery's name (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
        /// Where t-SNE runs: auto (a hardware GPU if there is one, else the CPU), cpu or gpu
        /// (any adapter, software ones included).
        #[arg(long, value_name = "auto|cpu|gpu", default_value = "auto")]
        tsne_on: headroom_gpu::ComputeChoice,
    },
    /// Convert a third-party model into headroom's own format.
    Convert {
        #[command(subcommand)]
        what: ConvertWhat,
    },
    /// Read the source for a while without a window and report what arrived (a quick check that
    /// a camera or file works).
    Probe {
        /// How long to read.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum ConvertWhat {
    /// clmtrackr's `models/model_*_svm.js` (npm clmtrackr) → headroom's JSON CLM format.
    Clmtrackr {
        /// The model .js file.
        input: PathBuf,
        /// Where to write the converted model.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patches {
    Raw,
    Sobel,
    Lbp,
}

impl From<Patches> for headroom_face::patch::PatchKind {
    fn from(p: Patches) -> Self {
        match p {
            Patches::Raw => Self::Raw,
            Patches::Sobel => Self::Sobel,
            Patches::Lbp => Self::Lbp,
        }
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtlasFormatArg {
    Png,
    Jpeg,
}

impl From<AtlasFormatArg> for headroom_gallery::atlas::AtlasFormat {
    fn from(f: AtlasFormatArg) -> Self {
        match f {
            AtlasFormatArg::Png => Self::Png,
            AtlasFormatArg::Jpeg => Self::Jpeg,
        }
    }
}
