//! A folder of JPEG/PNG images played in file-name order at a fixed rate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{CaptureError, Frame, FrameSource, SourceInfo};

/// Images bigger than this (in pixels) are refused rather than decoded: 64 Mpx ≈ 256 MB RGBA.
const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// Slowest frame rate an image sequence plays at (one image per 1000 s).
pub const MIN_FPS: f64 = 0.001;
/// Fastest frame rate an image sequence plays at.
pub const MAX_FPS: f64 = 1000.0;

pub struct ImageSequenceSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    fps: f64,
    next: usize,
    pass: u32,
    seq: u64,
    looping: bool,
    /// Size of the first readable image (what the source reports before playing).
    size: (u32, u32),
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Reads one image as RGBA8, refusing enormous ones before decoding them.
pub fn read_rgba(path: &Path) -> Result<(u32, u32, Vec<u8>), String> {
    let reader =
        image::ImageReader::open(path).map_err(|e| e.to_string())?.with_guessed_format().map_err(|e| e.to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 {
        return Err("image has no pixels".into());
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("{w}×{h} is larger than the {MAX_PIXELS}-pixel limit"));
    }
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?
        .into_rgba8();
    Ok((w, h, img.into_raw()))
}

impl ImageSequenceSource {
    /// Lists `dir`'s JPEG and PNG files (sorted by name) to play at `fps`.
    pub fn open(dir: impl AsRef<Path>, fps: f64) -> Result<Self, CaptureError> {
        let dir = dir.as_ref();
        let io = |reason: String| CaptureError::Io { path: dir.to_path_buf(), reason };
        if !(fps.is_finite() && (MIN_FPS..=MAX_FPS).contains(&fps)) {
            return Err(io(format!("frame rate must be from {MIN_FPS} to {MAX_FPS} frames per second, got {fps}")));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        files.sort();
        // The size is that of the first image that reads.
        let size = files
            .iter()
            .find_map(|p| image::image_dimensions(p).ok().filter(|&(w, h)| w > 0 && h > 0))
            .ok_or_else(|| CaptureError::EmptyImageDir { dir: dir.to_path_buf() })?;
        Ok(ImageSequenceSource { dir: dir.to_path_buf(), files, fps, next: 0, pass: 0, seq: 0, looping: false, size })
    }

    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn due_time(&self, index: usize, pass: u32) -> Duration {
        let n = pass as usize * self.files.len() + index;
        Duration::try_from_secs_f64(n as f64 / self.fps).unwrap_or(Duration::MAX)
    }

    /// The next image in order, ignoring any clock; `None` at the end (unless looping). An
    /// unreadable image is a recoverable error: the next call goes on with the image after it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.next >= self.files.len() {
            if !self.looping {
                return Ok(None);
            }
            self.next = 0;
            self.pass += 1;
        }
        let i = self.next;
        self.next += 1;
        let path = &self.files[i];
        let timestamp = self.due_time(i, self.pass);
        let (w, h, rgba) = read_rgba(path).map_err(|reason| CaptureError::BadImage { path: path.clone(), reason })?;
        let frame = Frame::new(w, h, rgba, timestamp, self.seq)
            .ok_or_else(|| CaptureError::BadImage { path: path.clone(), reason: "bad pixel buffer".into() })?;
        self.seq += 1;
        Ok(Some(frame))
    }
}

impl FrameSource for ImageSequenceSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: format!("images in {}", self.dir.display()),
            width: self.size.0,
            height: self.size.1,
            nominal_fps: self.fps,
        }
    }

    fn poll(&mut self, now: Duration) -> Result<Option<Frame>, CaptureError> {
        // Skip (without decoding) every image that is already stale, then read the newest due.
        let mut newest_due = None;
        loop {
            if self.next >= self.files.len() {
                if !self.looping {
                    break;
                }
                self.next = 0;
                self.pass += 1;
            }
            if self.due_time(self.next, self.pass) > now {
                break;
            }
            newest_due = Some((self.next, self.pass));
            self.next += 1;
        }
        let Some((i, pass)) = newest_due else { return Ok(None) };
        (self.next, self.pass) = (i, pass);
        self.next_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("headroom-images-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_png(path: &Path, w: u32, h: u32, shade: u8) {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([shade, (x * 7) as u8, (y * 5) as u8, 255]));
        img.save(path).unwrap();
    }

    #[test]
    fn frame_rates_that_would_overflow_the_frame_times_are_refused() {
        let d = temp_dir("fps");
        write_png(&d.join("a.png"), 4, 4, 1);
        for bad in [1e-20, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            let e = ImageSequenceSource::open(&d, bad).err().expect("refused").to_string();
            assert!(e.contains("frame rate"), "{bad}: {e}");
        }
        let mut s = ImageSequenceSource::open(&d, MIN_FPS).unwrap();
        s.looping = true;
        assert_eq!(s.due_time(0, u32::MAX), Duration::from_secs_f64(u32::MAX as f64 / MIN_FPS));
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn plays_a_folder_in_name_order() {
        let d = temp_dir("order");
        for (i, name) in ["b.png", "a.png", "c.jpg"].iter().enumerate() {
            let p = d.join(name);
            if name.ends_with("jpg") {
                image::RgbImage::from_pixel(8, 6, image::Rgb([200, 10, 10])).save(&p).unwrap();
            } else {
                write_png(&p, 8, 6, 10 * i as u8);
            }
        }
        std::fs::write(d.join("notes.txt"), "not an image").unwrap();
        let mut s = ImageSequenceSource::open(&d, 10.0).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.info().width, 8);
        let frames: Vec<Frame> = std::iter::from_fn(|| s.next_frame().unwrap()).collect();
        assert_eq!(frames.len(), 3);
        // a.png was written with shade 10, b.png with 0.
        assert_eq!(frames[0].pixel(0, 0).unwrap()[0], 10);
        assert_eq!(frames[1].pixel(0, 0).unwrap()[0], 0);
        assert!(frames[2].pixel(0, 0).unwrap()[0] > 150);
        let ts: Vec<u128> = frames.iter().map(|f| f.timestamp.as_millis()).collect();
        assert_eq!(ts, vec![0, 100, 200]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn poll_skips_stale_images_and_loops() {
        let d = temp_dir("poll");
        for i in 0..5 {
            write_png(&d.join(format!("{i:03}.png")), 4, 4, i * 40);
        }
        let mut s = ImageSequenceSource::open(&d, 10.0).unwrap().looping(true);
        assert_eq!(s.poll(Duration::ZERO).unwrap().unwrap().pixel(0, 0).unwrap()[0], 0);
        assert!(s.poll(Duration::from_millis(50)).unwrap().is_none());
        // At 350 ms images 1..=3 are due; the newest (3) is returned.
        let f = s.poll(Duration::from_millis(350)).unwrap().unwrap();
        assert_eq!(f.pixel(0, 0).unwrap()[0], 120);
        // At 720 ms we are in the second pass, image 2 (due at 700 ms).
        let f = s.poll(Duration::from_millis(720)).unwrap().unwrap();
        assert_eq!(f.pixel(0, 0).unwrap()[0], 80);
        assert_eq!(f.timestamp, Duration::from_millis(700));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_images_are_skipped_with_an_error_and_empty_folders_refused() {
        let d = temp_dir("bad");
        write_png(&d.join("0.png"), 4, 4, 1);
        std::fs::write(d.join("1.png"), b"\x89PNG broken").unwrap();
        std::fs::write(d.join("2.jpg"), b"").unwrap();
        write_png(&d.join("3.png"), 4, 4, 3);
        let mut s = ImageSequenceSource::open(&d, 30.0).unwrap();
        assert!(s.next_frame().unwrap().is_some());
        let e = s.next_frame().unwrap_err();
        assert!(e.is_recoverable() && e.to_string().contains("1.png"), "{e}");
        assert!(s.next_frame().unwrap_err().is_recoverable());
        assert_eq!(s.next_frame().unwrap().unwrap().pixel(0, 0).unwrap()[0], 3);
        assert!(s.next_frame().unwrap().is_none());

        let empty = temp_dir("empty");
        assert!(matches!(ImageSequenceSource::open(&empty, 30.0), Err(CaptureError::EmptyImageDir { .. })));
        assert!(ImageSequenceSource::open(empty.join("missing"), 30.0).is_err());
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
