//! `headroom probe`: read a source without a window and report what arrived.

use std::time::{Duration, Instant};

use headroom_capture::{FpsMeter, FrameSource};

/// What a probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    pub frames: u64,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    pub monotonic: bool,
    pub errors: Vec<String>,
}

/// Polls `source` for `seconds` of real time (about every 2 ms) and measures what arrives.
pub fn probe(source: &mut dyn FrameSource, seconds: f64) -> ProbeReport {
    let start = Instant::now();
    // NaN and negative → 0; beyond what a Duration holds (inf) → as long as it holds.
    let limit = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
    let mut report = ProbeReport { frames: 0, fps: 0.0, width: 0, height: 0, monotonic: true, errors: vec![] };
    let mut meter = FpsMeter::default();
    let mut last = None;
    while start.elapsed() < limit {
        match source.poll(start.elapsed()) {
            Ok(Some(f)) => {
                report.frames += 1;
                (report.width, report.height) = (f.width, f.height);
                if last.is_some_and(|l| f.timestamp <= l) {
                    report.monotonic = false;
                }
                last = Some(f.timestamp);
                meter.tick(start.elapsed());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                let fatal = !e.is_recoverable();
                report.errors.push(e.to_string());
                if fatal {
                    break;
                }
            }
        }
    }
    report.fps = meter.fps();
    report
}
