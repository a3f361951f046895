//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use headroom_capture::SourceSpec;

/// The camera `fit` assumes for head pose unless `--hfov` says otherwise (a typical webcam).
pub const FIT_DEFAULT_HFOV_DEG: f64 = 60.0;

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

    /// Frame rate for images:DIR sources (0.001 to 1000).
    #[arg(long, global = true, value_name = "FPS", default_value_t = 30.0, value_parser = parse_fps)]
    pub fps: f64,

    /// Where the face tracker's patch responses run: auto (whichever measures faster here at
    /// start-up), cpu or gpu.
    #[arg(long, global = true, value_name = "auto|cpu|gpu", default_value = "auto")]
    pub compute: headroom_gpu::ComputeChoice,

    /// Face landmarks: mesh (MediaPipe's 468-point face mesh + iris, mapped onto clmtrackr's 71
    /// points) or clm (clmtrackr's 71-point model).
    #[arg(long, global = true, value_enum, value_name = "mesh|clm", default_value_t = LandmarksArg::Mesh)]
    pub landmarks: LandmarksArg,

    /// Face detector, used only when no face is tracked: blazeface (MediaPipe's) or haar
    /// (OpenCV's cascade, as clmtrackr).
    #[arg(long, global = true, value_enum, value_name = "blazeface|haar", default_value_t = DetectorArg::Blazeface)]
    pub detector: DetectorArg,

    /// How the CLM is placed on a detected face (with `--landmarks clm`): mosse (clmtrackr's:
    /// its eye and nose MOSSE filters), experts (the mean shape in the box, eyes and nose
    /// searched with the CLM's patch experts; this port's earlier placement) or keypoints
    /// (BlazeFace's eye and nose keypoints; with `--detector blazeface`, else as mosse).
    #[arg(long, global = true, value_enum, value_name = "mosse|experts|keypoints", default_value_t = PlacementArg::Mosse)]
    pub placement: PlacementArg,

    /// On stills (`fit` on images), also fit the CLM from the other placement and keep the fit
    /// its drift scorer rates more face-like (by default one start, as clmtrackr).
    #[arg(long, global = true)]
    pub two_starts: bool,

    /// On stills, also fit the CLM from N jittered copies of its placement (0 to 8: scale ±7 %,
    /// rotation ±0.12 rad, shifts of 5 % of the face box); of three or more fits the one most
    /// of the others agree with is kept.
    #[arg(long, global = true, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=8))]
    pub jitter: u8,

    /// On stills, also fit the CLM on the other detector's face (BlazeFace's placed by its
    /// keypoints, Haar's by `--placement`) and keep the fit its drift scorer rates more face-like.
    #[arg(long, global = true)]
    pub both_detectors: bool,

    /// With the face mesh: skip the iris model (two networks per frame); the pupils are then
    /// the eye corners' midpoints.
    #[arg(long, global = true)]
    pub no_iris: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandmarksArg {
    Mesh,
    Clm,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorArg {
    Blazeface,
    Haar,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementArg {
    Mosse,
    Experts,
    Keypoints,
}

impl Cli {
    /// The face tracker's settings from `--landmarks`, `--detector` and `--placement`.
    pub fn tracker_config(&self) -> headroom_face::TrackerConfig {
        headroom_face::TrackerConfig {
            landmarks: match self.landmarks {
                LandmarksArg::Mesh => headroom_face::Landmarks::Mesh,
                LandmarksArg::Clm => headroom_face::Landmarks::Clm,
            },
            detector: match self.detector {
                DetectorArg::Blazeface => headroom_face::Detector::BlazeFace,
                DetectorArg::Haar => headroom_face::Detector::Haar,
            },
            placement: match self.placement {
                PlacementArg::Mosse => headroom_face::Placement::Mosse,
                PlacementArg::Experts => headroom_face::Placement::Experts,
                PlacementArg::Keypoints => headroom_face::Placement::Keypoints,
            },
            still_restarts: self.two_starts,
            still_jitter: usize::from(self.jitter),
            still_both_detectors: self.both_detectors,
            iris: !self.no_iris,
            ..Default::default()
        }
    }
}

/// Face Lab's effects, for `headroom facelab --effect`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabEffectArg {
    /// Shape modes exaggerated (clmtrackr's caricature).
    Caricature,
    /// Shape modes offset by sliders and presets (clmtrackr's face deformer).
    Deform,
    /// A face image warped onto yours.
    Mask,
    /// A face warped onto yours and Poisson-blended into the frame.
    Swap,
}

impl LabEffectArg {
    pub fn effect(self) -> headroom_facelab::Effect {
        use headroom_facelab::Effect;
        match self {
            LabEffectArg::Caricature => Effect::Caricature,
            LabEffectArg::Deform => Effect::Deform,
            LabEffectArg::Mask => Effect::Mask,
            LabEffectArg::Swap => Effect::Substitute,
        }
    }
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
    Facelab {
        /// Start with this effect on (the panel switches it too).
        #[arg(long, value_enum)]
        effect: Option<LabEffectArg>,
        /// The face for mask and swap: a photo (PNG/JPEG; fitted at start) or the name of a
        /// bundled face ("average", "alboni", "morgan").
        #[arg(long, value_name = "PHOTO|NAME")]
        face: Option<String>,
    },
    /// Open straight into the head-coupled window demo (a room behind the screen).
    Window,
    /// List the webcams this machine offers.
    Cameras,
    /// Fit the 71-point face model to an image, a folder of images or an MP4 video; one JSON
    /// record per image or frame (points, score, head pose, milliseconds; on a still, every
    /// other face too).
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
        /// The camera's horizontal field of view in degrees, for the head pose in each record.
        #[arg(long, value_name = "DEG", default_value_t = FIT_DEFAULT_HFOV_DEG)]
        hfov: f64,
    },
    /// Build a gallery from a folder of images: thumbnails and texture atlases, MobileNetV2
    /// features, PCA, 3D and 2D t-SNE maps, similar works, typical works and outliers per period,
    /// the faces in the works (found, aligned, embedded, their own map), and a manifest. Incremental: a re-run computes only new or changed files, an interrupted
    /// (even killed) build resumes, and new works join the existing map without moving it.
    /// Unreadable, truncated or enormous images are skipped and listed in OUT/report.txt.
    BuildGallery {
        /// Folder of images (jpg, png, webp, gif, tiff; searched recursively).
        dir: PathBuf,
        /// CSV with a `file` column (the path in the folder, or just the file name where that is
        /// unambiguous) and columns such as title, artist,
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
        /// Random seed of the map: it jitters t-SNE's PCA start; the same inputs and seed give the same
        /// map bit for bit, another seed a different one. A changed seed, perplexity, iteration count
        /// or model lays the map out again.
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
        /// Do not look for the faces in the works (by default each face is found, aligned,
        /// embedded and mapped: the manifest's `faces` section, cached like the features).
        #[arg(long)]
        no_faces: bool,
    },
    /// List the faces a gallery build found, per work, as JSON (for curators): the work's file and
    /// title, and for each face its box, detector score, landmarks and place in the face map.
    Faces {
        /// A gallery manifest (or the folder holding manifest.json).
        manifest: PathBuf,
    },
    /// Convert a third-party model into headroom's own format.
    Convert {
        #[command(subcommand)]
        what: ConvertWhat,
    },
    /// Read the source for a while without a window and report what arrived (a quick check that
    /// a camera or file works).
    Probe {
        /// How long to read, in seconds (0 to 86400).
        #[arg(long, default_value_t = 2.0, value_parser = parse_seconds)]
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

/// `--seconds`: a finite number of seconds from 0 to a day (`inf` or `1e300` used to panic in
/// `Duration::from_secs_f64`).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && (0.0..=86_400.0).contains(&v)) {
        return Err(format!("`{s}`: give a number of seconds from 0 to 86400"));
    }
    Ok(v)
}

/// `--fps`: a finite frame rate from 0.001 to 1000 (`1e-20` used to panic computing frame times).
pub fn parse_fps(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a frame rate"))?;
    if !(v.is_finite() && (0.001..=1000.0).contains(&v)) {
        return Err(format!("`{s}`: give a frame rate from 0.001 to 1000 frames per second"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_seconds_and_frame_rates_are_refused_by_the_parser() {
        for bad in ["inf", "-inf", "NaN", "1e300", "-1", "86401", "two"] {
            let arg = format!("--seconds={bad}");
            let e = Cli::try_parse_from(["headroom", "probe", &arg]).unwrap_err().to_string();
            assert!(e.contains("seconds"), "{bad}: {e}");
        }
        for bad in ["1e-20", "0", "-3", "inf", "NaN", "1e9"] {
            let arg = format!("--fps={bad}");
            let e = Cli::try_parse_from(["headroom", &arg, "probe"]).unwrap_err().to_string();
            assert!(e.contains("frame rate"), "{bad}: {e}");
        }
        let ok = Cli::try_parse_from(["headroom", "--fps", "0.5", "probe", "--seconds", "0.25"]).unwrap();
        assert_eq!(ok.fps, 0.5);
        assert!(matches!(ok.command, Some(Command::Probe { seconds }) if seconds == 0.25));
    }
}
