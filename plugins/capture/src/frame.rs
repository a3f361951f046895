use std::sync::Arc;
use std::time::Duration;

/// One captured picture: tightly packed RGBA8, row-major, top row first.
///
/// Pixels sit behind an `Arc`, so handing a frame to a tracker thread or a texture upload is a
/// pointer copy.
#[derive(Clone, Debug)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Arc<[u8]>,
    /// Presentation time from the source's start (video: the container's timestamps; webcam:
    /// arrival time; image sequence: index / fps). Strictly increasing within one source.
    pub timestamp: Duration,
    /// Frame number within the source, from 0; increases by at least one per delivered frame.
    pub seq: u64,
}

impl Frame {
    /// Builds a frame, checking that the buffer holds exactly `width * height` RGBA pixels.
    pub fn new(width: u32, height: u32, rgba: Vec<u8>, timestamp: Duration, seq: u64) -> Option<Self> {
        (rgba.len() == width as usize * height as usize * 4).then(|| Frame {
            width,
            height,
            rgba: rgba.into(),
            timestamp,
            seq,
        })
    }

    /// RGBA of the pixel at (x, y); `None` outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        Some([self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]])
    }
}

/// Frames per second measured from frame timestamps, smoothed over about a second.
#[derive(Clone, Debug, Default)]
pub struct FpsMeter {
    last: Option<Duration>,
    mean_interval: Option<f64>,
}

impl FpsMeter {
    /// Records a frame that arrived at `t` (any monotonic clock).
    pub fn tick(&mut self, t: Duration) {
        if let Some(last) = self.last {
            let dt = t.saturating_sub(last).as_secs_f64();
            if dt > 0.0 {
                self.mean_interval = Some(match self.mean_interval {
                    // EMA with weight 0.1: ~10 frames of memory.
                    Some(m) => m + 0.1 * (dt - m),
                    None => dt,
                });
            }
        }
        self.last = Some(t);
    }

    /// The measured rate; 0 until two frames were seen.
    pub fn fps(&self) -> f64 {
        self.mean_interval.map_or(0.0, |m| 1.0 / m)
    }
}

/// Expands packed RGB8 to RGBA8 with opaque alpha.
pub fn rgb_to_rgba(rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 4);
    for px in rgb.chunks_exact(3) {
        out.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_checks_buffer_size() {
        assert!(Frame::new(2, 2, vec![0; 16], Duration::ZERO, 0).is_some());
        assert!(Frame::new(2, 2, vec![0; 15], Duration::ZERO, 0).is_none());
        let f = Frame::new(2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8], Duration::ZERO, 0).unwrap();
        assert_eq!(f.pixel(1, 0), Some([5, 6, 7, 8]));
        assert_eq!(f.pixel(2, 0), None);
    }

    #[test]
    fn fps_meter_measures_rate() {
        let mut m = FpsMeter::default();
        assert_eq!(m.fps(), 0.0);
        for i in 0..100 {
            m.tick(Duration::from_millis(i * 40));
        }
        assert!((m.fps() - 25.0).abs() < 1e-6, "{}", m.fps());
    }

    #[test]
    fn rgb_expands_to_opaque_rgba() {
        assert_eq!(rgb_to_rgba(&[1, 2, 3, 4, 5, 6]), vec![1, 2, 3, 255, 4, 5, 6, 255]);
    }
}
