//! MP4/H.264 video files: the `mp4` crate demuxes, openh264 decodes (Constrained Baseline).
//! Files in other H.264 profiles are decoded by an installed `ffmpeg` binary when there is one;
//! without it the error says what to install or how to re-encode.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use mp4::{Mp4Reader, TrackType};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::{CaptureError, Frame, FrameSource, SourceInfo};

/// A decoded picture: RGBA pixels, width, height, presentation time.
type Decoded = (Vec<u8>, u32, u32, Duration);

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Most frames one `poll` decodes to catch up; past that, playback skips ahead instead of
/// stalling the caller.
const MAX_CATCH_UP: usize = 8;

enum Backend {
    OpenH264(Box<Decoder>),
    /// `ffmpeg` writing raw RGBA frames to a pipe, in display order.
    Ffmpeg {
        child: Child,
        stdout: ChildStdout,
    },
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Ffmpeg { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A video file played at its own timestamps.
pub struct VideoSource {
    name: String,
    path: PathBuf,
    reader: Mp4Reader<Box<dyn ReadSeek>>,
    track_id: u32,
    sample_count: u32,
    timescale: u64,
    /// SPS and PPS in Annex-B form, sent before the first sample of each pass.
    header: Vec<u8>,
    /// Presentation times of all samples, in display order (for the ffmpeg backend).
    display_times: Vec<Duration>,
    backend: Backend,
    /// The picture as coded (what the decoders give).
    coded: (u32, u32),
    /// Quarter turns clockwise the track's display matrix asks for (phones record portrait video
    /// as landscape pictures plus a 90° turn); frames are turned before they leave.
    quarter_turns: u8,
    /// The picture as shown: `coded`, turned.
    width: u32,
    height: u32,
    fps: f64,
    /// Length of one pass: the last frame's end.
    pass_length: Duration,
    next_sample: u32,
    pass: u32,
    /// Frames decoded in the current pass (a looping file whose samples give none is an error,
    /// not an endless loop).
    frames_this_pass: u64,
    seq: u64,
    looping: bool,
    /// Decoded but not yet due.
    pending: Option<Frame>,
    /// Subtracted from the caller's clock; grows when playback had to skip ahead.
    clock_slip: Duration,
}

/// A sample's presentation time in timescale ticks: decode time plus composition offset, clamped
/// to what the file can mean (never negative; a crafted value cannot overflow).
fn presentation_ticks(start_time: u64, rendering_offset: i32) -> u64 {
    (i128::from(start_time) + i128::from(rendering_offset)).clamp(0, i128::from(u64::MAX)) as u64
}

/// Ticks of a `timescale` (≥ 1) as a Duration, exactly and without overflow.
fn ticks_to_duration(ticks: u64, timescale: u64) -> Duration {
    let timescale = timescale.max(1);
    let nanos = u128::from(ticks % timescale) * 1_000_000_000 / u128::from(timescale);
    Duration::new(ticks / timescale, nanos as u32)
}

/// When frame time `t` of pass `pass` plays (passes follow each other), if that fits a Duration.
fn looped_time(t: Duration, pass_length: Duration, pass: u32) -> Option<Duration> {
    pass_length.checked_mul(pass)?.checked_add(t)
}

/// Quarter turns clockwise of a track header's display matrix (16.16 fixed point; a point
/// `(x, y)` is shown at `(a·x + c·y, b·x + d·y)`, y pointing down). A matrix that is not a whole
/// number of quarter turns (mirrored, sheared, scaled) is shown as coded.
fn quarter_turns([a, b, c, d]: [i32; 4]) -> u8 {
    let one = 0x1_0000;
    match (a, b, c, d) {
        (a, 0, 0, d) if a == one && d == one => 0,
        (0, b, c, 0) if b == one && c == -one => 1,
        (a, 0, 0, d) if a == -one && d == -one => 2,
        (0, b, c, 0) if b == -one && c == one => 3,
        _ => 0,
    }
}

/// `rgba` (`w`×`h`) turned `turns` quarter turns clockwise; the new size.
pub(crate) fn turn_rgba(rgba: Vec<u8>, w: u32, h: u32, turns: u8) -> (Vec<u8>, u32, u32) {
    let (wu, hu) = (w as usize, h as usize);
    let px = |x: usize, y: usize| 4 * (y * wu + x);
    match turns % 4 {
        0 => (rgba, w, h),
        2 => {
            let mut out = vec![0u8; rgba.len()];
            for (i, chunk) in rgba.chunks_exact(4).enumerate() {
                let j = wu * hu - 1 - i;
                out[4 * j..4 * j + 4].copy_from_slice(chunk);
            }
            (out, w, h)
        }
        t => {
            // The output is h wide, w high. Clockwise: output (x', y') = input (y', h-1-x').
            let mut out = vec![0u8; rgba.len()];
            for y2 in 0..wu {
                for x2 in 0..hu {
                    let (x, y) = if t == 1 { (y2, hu - 1 - x2) } else { (wu - 1 - y2, x2) };
                    let o = 4 * (y2 * hu + x2);
                    out[o..o + 4].copy_from_slice(&rgba[px(x, y)..px(x, y) + 4]);
                }
            }
            (out, h, w)
        }
    }
}

/// Most sample times reserved up front; a longer table grows as it is read (the count is the
/// file's claim, not a fact).
const RESERVE_SAMPLES: usize = 1 << 16;

fn catch<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(format!("{what}: malformed data")))
}

impl VideoSource {
    /// Opens an MP4 file with an H.264 video track.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| CaptureError::Io { path: path.to_path_buf(), reason: e.to_string() };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(CaptureError::Io { path: path.into(), reason: "is a folder, not a video file".into() });
        }
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
        Self::from_reader(Box::new(BufReader::new(file)), meta.len(), path, name)
    }

    /// Opens an MP4 held in memory (the bundled demo clip).
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self, CaptureError> {
        let len = bytes.len() as u64;
        Self::from_reader(Box::new(Cursor::new(bytes)), len, Path::new(name), name.to_string())
    }

    fn from_reader(mut reader: Box<dyn ReadSeek>, size: u64, path: &Path, name: String) -> Result<Self, CaptureError> {
        let bad = |reason: String| CaptureError::BadVideo { path: path.to_path_buf(), reason };
        if size == 0 {
            return Err(bad("the file is empty".into()));
        }
        crate::mp4check::check(&mut reader, size).map_err(|e| bad(e.to_string()))?;
        let mut reader =
            catch("MP4 header", || Mp4Reader::read_header(reader, size).map_err(|e| e.to_string())).map_err(bad)?;
        let track = reader
            .tracks()
            .values()
            .filter(|t| matches!(t.track_type(), Ok(TrackType::Video)))
            .min_by_key(|t| t.track_id())
            .ok_or_else(|| bad("no video track".into()))?;
        let track_id = track.track_id();
        let is_h264 = track.box_type().map(|b| b.to_string() == "avc1").unwrap_or(false);
        if !is_h264 {
            let kind = track.box_type().map(|b| b.to_string()).unwrap_or_else(|_| "unknown".into());
            return Err(bad(format!("video track is '{kind}', only H.264 (avc1) is supported")));
        }
        let sps = track.sequence_parameter_set().map_err(|e| bad(e.to_string()))?.to_vec();
        let pps = track.picture_parameter_set().map_err(|e| bad(e.to_string()))?.to_vec();
        let coded = (u32::from(track.width()), u32::from(track.height()));
        let quarter_turns = {
            let m = &track.trak.tkhd.matrix;
            quarter_turns([m.a, m.b, m.c, m.d])
        };
        let (width, height) = if quarter_turns % 2 == 1 { (coded.1, coded.0) } else { coded };
        if track.timescale() == 0 {
            return Err(bad("the video track's timescale is 0 (its times mean nothing)".into()));
        }
        let timescale = u64::from(track.timescale());
        let sample_count = track.sample_count();
        if sample_count == 0 || width == 0 || height == 0 {
            return Err(bad(format!("empty video track ({width}×{height}, {sample_count} frames)")));
        }
        if u64::from(sample_count) > size {
            return Err(bad(format!(
                "the sample table lists {sample_count} frames, more than a file of {size} bytes can hold"
            )));
        }
        let profile_idc = sps.get(1).copied().unwrap_or(0);

        // Timestamps of every sample, so that each frame carries its real presentation time.
        let mut display_times = Vec::with_capacity((sample_count as usize).min(RESERVE_SAMPLES));
        let mut pass_length = Duration::ZERO;
        for id in 1..=sample_count {
            let s = catch("MP4 sample table", || reader.read_sample(track_id, id).map_err(|e| e.to_string()))
                .map_err(bad)?
                .ok_or_else(|| bad(format!("sample {id} is missing")))?;
            let pts = presentation_ticks(s.start_time, s.rendering_offset);
            display_times.push(ticks_to_duration(pts, timescale));
            let end = ticks_to_duration(pts.saturating_add(u64::from(s.duration)), timescale);
            pass_length = pass_length.max(end);
        }
        display_times.sort();
        // Frames per second over one pass (the mp4 crate's own figure overflows on crafted
        // durations).
        let fps = if pass_length.is_zero() { 0.0 } else { f64::from(sample_count) / pass_length.as_secs_f64() };

        let mut header = Vec::new();
        for nal in [&sps, &pps] {
            header.extend_from_slice(&[0, 0, 0, 1]);
            header.extend_from_slice(nal);
        }
        let backend = Self::backend(path, profile_idc, size, coded)?;
        let mut source = VideoSource {
            name,
            path: path.to_path_buf(),
            reader,
            track_id,
            sample_count,
            timescale,
            header,
            display_times,
            backend,
            coded,
            quarter_turns,
            width,
            height,
            fps,
            pass_length,
            next_sample: 1,
            pass: 0,
            frames_this_pass: 0,
            seq: 0,
            looping: false,
            pending: None,
            clock_slip: Duration::ZERO,
        };
        if matches!(source.backend, Backend::OpenH264(_)) {
            // The container's size may disagree with the stream's (a crafted or broken file):
            // the decoder's first picture decides, so every frame has the size `info` promises.
            // (ffmpeg is told to scale to the container's size instead.)
            if let Some(first) = source.decode_next()? {
                source.width = first.width;
                source.height = first.height;
                source.coded =
                    if quarter_turns % 2 == 1 { (first.height, first.width) } else { (first.width, first.height) };
                source.pending = Some(first);
            }
        }
        Ok(source)
    }

    fn backend(path: &Path, profile_idc: u8, size: u64, coded: (u32, u32)) -> Result<Backend, CaptureError> {
        // 66 = Baseline; openh264 decodes its constrained form, which is what encoders emit.
        if profile_idc == 66 {
            let dec = Decoder::new().map_err(|e| CaptureError::BadVideo {
                path: path.into(),
                reason: format!("openh264 failed to start: {e}"),
            })?;
            return Ok(Backend::OpenH264(Box::new(dec)));
        }
        let profile = match profile_idc {
            77 => "Main".to_string(),
            88 => "Extended".to_string(),
            100 => "High".to_string(),
            110 => "High 10".to_string(),
            122 => "High 4:2:2".to_string(),
            244 => "High 4:4:4".to_string(),
            n => format!("#{n}"),
        };
        // A file on disk can be handed to ffmpeg; the in-memory demo clip is Baseline anyway.
        if size > 0
            && path.is_file()
            && let Some(b) = spawn_ffmpeg(path, coded)
        {
            return Ok(b);
        }
        Err(CaptureError::UnsupportedProfile { path: path.into(), profile })
    }

    /// Plays the file again from the start when it ends.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Number of frames in one pass.
    pub fn frame_count(&self) -> u32 {
        self.sample_count
    }

    /// Whether frames come from an external ffmpeg (non-Baseline files) rather than openh264.
    pub fn uses_ffmpeg(&self) -> bool {
        matches!(self.backend, Backend::Ffmpeg { .. })
    }

    /// The next frame in order, ignoring any clock; `None` at the end (unless looping).
    /// For tools that must see every frame (`headroom fit`, tests, benchmarks).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if let Some(f) = self.pending.take() {
            return Ok(Some(f));
        }
        self.decode_next()
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            if self.next_sample > self.sample_count {
                if !self.looping {
                    return Ok(None);
                }
                if self.frames_this_pass == 0 {
                    return Err(self.decode_err(
                        self.sample_count,
                        format!("none of its {} samples gives a picture", self.sample_count),
                    ));
                }
                self.restart()?;
            }
            let index = self.next_sample;
            self.next_sample += 1;
            let decoded = match &mut self.backend {
                Backend::OpenH264(_) => self.decode_openh264(index)?,
                Backend::Ffmpeg { .. } => self.read_ffmpeg(index)?,
            };
            if let Some((rgba, w, h, t)) = decoded {
                let (rgba, w, h) = turn_rgba(rgba, w, h, self.quarter_turns);
                let timestamp = looped_time(t, self.pass_length, self.pass)
                    .ok_or_else(|| self.decode_err(index, "its timestamps run past what a clock can hold"))?;
                self.frames_this_pass += 1;
                let frame = Frame::new(w, h, rgba, timestamp, self.seq)
                    .ok_or_else(|| self.decode_err(index, "bad frame size"))?;
                self.seq += 1;
                return Ok(Some(frame));
            }
            // openh264 may hold a frame back (it did not here); ask for the next sample.
        }
    }

    fn decode_err(&self, index: u32, reason: impl Into<String>) -> CaptureError {
        CaptureError::Decode {
            path: self.path.clone(),
            frame: u64::from(index.saturating_sub(1)),
            reason: reason.into(),
        }
    }

    fn decode_openh264(&mut self, index: u32) -> Result<Option<Decoded>, CaptureError> {
        let track_id = self.track_id;
        let reader = &mut self.reader;
        let sample = catch("MP4 sample", || reader.read_sample(track_id, index).map_err(|e| e.to_string()))
            .map_err(|e| self.decode_err(index, e))?
            .ok_or_else(|| self.decode_err(index, "sample missing"))?;
        let t = ticks_to_duration(presentation_ticks(sample.start_time, sample.rendering_offset), self.timescale);
        // AVCC (4-byte big-endian lengths) → Annex B (start codes).
        let mut packet = Vec::with_capacity(sample.bytes.len() + self.header.len() + 16);
        if index == 1 {
            packet.extend_from_slice(&self.header);
        }
        let mut rest: &[u8] = &sample.bytes;
        while rest.len() >= 4 {
            let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if n > rest.len() - 4 {
                return Err(self.decode_err(index, "NAL unit runs past the end of its sample"));
            }
            packet.extend_from_slice(&[0, 0, 0, 1]);
            packet.extend_from_slice(&rest[4..4 + n]);
            rest = &rest[4 + n..];
        }
        let Backend::OpenH264(decoder) = &mut self.backend else { unreachable!() };
        let result = decoder.decode(&packet);
        match result {
            Ok(Some(yuv)) => {
                let (w, h) = yuv.dimensions();
                let mut rgba = vec![0u8; w * h * 4];
                yuv.write_rgba8(&mut rgba);
                Ok(Some((rgba, w as u32, h as u32, t)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.decode_err(index, e.to_string())),
        }
    }

    fn read_ffmpeg(&mut self, index: u32) -> Result<Option<Decoded>, CaptureError> {
        let (w, h) = self.coded;
        let t = self.display_times.get((index - 1) as usize).copied().unwrap_or(self.pass_length);
        let Backend::Ffmpeg { stdout, .. } = &mut self.backend else { unreachable!() };
        let mut rgba = vec![0u8; w as usize * h as usize * 4];
        match stdout.read_exact(&mut rgba) {
            Ok(()) => Ok(Some((rgba, w, h, t))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // ffmpeg produced fewer frames than the sample table lists: end the pass here.
                self.next_sample = self.sample_count + 1;
                Ok(None)
            }
            Err(e) => Err(self.decode_err(index, format!("ffmpeg: {e}"))),
        }
    }

    fn restart(&mut self) -> Result<(), CaptureError> {
        self.next_sample = 1;
        self.pass = self.pass.checked_add(1).ok_or_else(|| self.decode_err(1, "looped 4 billion times"))?;
        self.frames_this_pass = 0;
        self.backend = match &self.backend {
            Backend::OpenH264(_) => {
                Backend::OpenH264(Box::new(Decoder::new().map_err(|e| self.decode_err(1, e.to_string()))?))
            }
            Backend::Ffmpeg { .. } => spawn_ffmpeg(&self.path, self.coded)
                .ok_or_else(|| self.decode_err(1, "ffmpeg could not be restarted"))?,
        };
        Ok(())
    }
}

/// `ffmpeg` decoding `path` to raw RGBA frames of exactly `coded` size (scaled to it should the
/// stream disagree with the container).
fn spawn_ffmpeg(path: &Path, coded: (u32, u32)) -> Option<Backend> {
    let mut child = Command::new("ffmpeg")
        // Frames as coded: the display matrix is applied here, the same for both decoders.
        .args(["-nostdin", "-v", "error", "-noautorotate", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-vf", &format!("scale={}:{}", coded.0, coded.1)])
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    Some(Backend::Ffmpeg { child, stdout })
}

impl FrameSource for VideoSource {
    fn info(&self) -> SourceInfo {
        SourceInfo { name: self.name.clone(), width: self.width, height: self.height, nominal_fps: self.fps }
    }

    fn poll(&mut self, now: Duration) -> Result<Option<Frame>, CaptureError> {
        let play = now.saturating_sub(self.clock_slip);
        let mut due = None;
        for _ in 0..MAX_CATCH_UP {
            if self.pending.is_none() {
                self.pending = self.decode_next()?;
            }
            match &self.pending {
                Some(f) if f.timestamp <= play => due = self.pending.take(),
                _ => return Ok(due),
            }
        }
        // Still behind after MAX_CATCH_UP frames: skip the lag instead of stalling.
        if let Some(f) = &due {
            self.clock_slip += play.saturating_sub(f.timestamp);
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEMO_CLIP;

    #[test]
    fn demo_clip_decodes_every_frame() {
        let mut v = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        assert!(!v.uses_ffmpeg());
        let info = v.info();
        assert_eq!((info.width, info.height), (360, 288));
        assert!((info.nominal_fps - 24.0).abs() < 0.01, "{}", info.nominal_fps);
        let mut n = 0u64;
        let mut last: Option<Duration> = None;
        let mut distinct_frames = 0;
        let mut prev_sum = 0u64;
        while let Some(f) = v.next_frame().unwrap() {
            assert_eq!((f.width, f.height), (360, 288));
            assert_eq!(f.seq, n);
            if let Some(l) = last {
                assert!(f.timestamp > l, "timestamps must increase: {l:?} then {:?}", f.timestamp);
            }
            last = Some(f.timestamp);
            // Pixels vary inside a frame, and frames differ from each other.
            let first = &f.rgba[..4];
            assert!(f.rgba.chunks_exact(4).any(|p| p[..3] != first[..3]));
            let sum: u64 = f.rgba.iter().map(|&b| u64::from(b)).sum();
            if sum != prev_sum {
                distinct_frames += 1;
            }
            prev_sum = sum;
            n += 1;
        }
        assert_eq!(n, 480);
        assert_eq!(n, u64::from(v.frame_count()));
        assert!(distinct_frames > 400, "{distinct_frames}");
        let last = last.unwrap().as_secs_f64();
        assert!((last - 479.0 / 24.0).abs() < 1e-3, "{last}");
    }

    #[test]
    fn looping_keeps_timestamps_increasing() {
        let mut v = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap().looping(true);
        let mut last = None;
        for i in 0..500 {
            let f = v.next_frame().unwrap().expect("a looping source never ends");
            assert_eq!(f.seq, i);
            if let Some(l) = last {
                assert!(f.timestamp > l);
            }
            last = Some(f.timestamp);
        }
        assert!(last.unwrap() > Duration::from_secs(20));
    }

    #[test]
    fn poll_follows_the_clock_and_drops_stale_frames() {
        let mut v = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        let f0 = v.poll(Duration::ZERO).unwrap().expect("frame 0 is due at 0");
        assert_eq!(f0.seq, 0);
        assert!(v.poll(Duration::from_millis(10)).unwrap().is_none(), "frame 1 is due at 41.7 ms");
        // 200 ms later: frames 1..=4 are due, only the newest is returned.
        let f = v.poll(Duration::from_millis(200)).unwrap().unwrap();
        assert_eq!(f.seq, 4);
        assert!(f.timestamp <= Duration::from_millis(200));
    }

    /// An MP4 with the demo clip's SPS/PPS and the given samples (bytes, duration in ticks of 24).
    fn crafted(samples: &[(&[u8], u32)]) -> Vec<u8> {
        use mp4::{AvcConfig, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer, TrackConfig};
        let demo = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        // The header is [0 0 0 1] SPS [0 0 0 1] PPS.
        let h = &demo.header;
        let second = (4..h.len() - 3).find(|&i| h[i..i + 4] == [0, 0, 0, 1]).unwrap();
        let (sps, pps) = (h[4..second].to_vec(), h[second + 4..].to_vec());
        let cfg = Mp4Config {
            major_brand: "isom".parse().unwrap(),
            minor_version: 512,
            compatible_brands: vec!["isom".parse().unwrap(), "avc1".parse().unwrap()],
            timescale: 1000,
        };
        let mut w = Mp4Writer::write_start(Cursor::new(Vec::new()), &cfg).unwrap();
        w.add_track(&TrackConfig {
            track_type: TrackType::Video,
            timescale: 24,
            language: "und".into(),
            media_conf: MediaConfig::AvcConfig(AvcConfig {
                width: 360,
                height: 288,
                seq_param_set: sps,
                pic_param_set: pps,
            }),
        })
        .unwrap();
        let mut start = 0;
        for (bytes, duration) in samples {
            let sample = Mp4Sample {
                start_time: start,
                duration: *duration,
                rendering_offset: 0,
                is_sync: true,
                bytes: bytes.to_vec().into(),
            };
            w.write_sample(1, &sample).unwrap();
            start += u64::from(*duration);
        }
        w.write_end().unwrap();
        w.into_writer().into_inner()
    }

    /// Runs `f` on another thread; `None` if it has not returned within `secs`.
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(secs)).ok()
    }

    #[test]
    fn a_looping_file_whose_samples_give_no_picture_is_an_error_not_an_endless_loop() {
        // Samples with no NAL units in them: every one decodes to nothing.
        let bytes = crafted(&[(&[0, 0, 0, 0], 1), (&[0, 0, 0, 0], 1), (&[0, 0, 0, 0], 1)]);
        let result = within(20, move || {
            let mut v = VideoSource::from_bytes(bytes, "empty-samples.mp4").unwrap().looping(true);
            v.next_frame().map(|f| f.is_some()).map_err(|e| e.to_string())
        })
        .expect("next_frame must return, not loop forever");
        let e = result.unwrap_err();
        assert!(e.contains("empty-samples.mp4") && e.contains("none of its 3 samples gives a picture"), "{e}");
    }

    #[test]
    fn a_sample_count_the_file_cannot_hold_is_refused_before_allocating() {
        let mut bytes = crafted(&[(&[0, 0, 0, 0], 1), (&[0, 0, 0, 0], 1)]);
        // stsz: size, "stsz", version/flags, uniform sample size, sample count.
        let at = bytes.windows(4).position(|w| w == b"stsz").unwrap();
        bytes[at + 8..at + 12].copy_from_slice(&4u32.to_be_bytes());
        bytes[at + 12..at + 16].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = VideoSource::from_bytes(bytes, "huge-count.mp4").err().expect("refused").to_string();
        assert!(e.contains("huge-count.mp4"), "{e}");
    }

    #[test]
    fn extreme_timestamps_saturate_or_fail_instead_of_overflowing() {
        assert_eq!(presentation_ticks(u64::MAX, i32::MAX), u64::MAX);
        assert_eq!(presentation_ticks(5, -100), 0);
        assert_eq!(presentation_ticks(1 << 63, 1), (1 << 63) + 1);
        assert_eq!(ticks_to_duration(u64::MAX, 1), Duration::from_secs(u64::MAX));
        assert_eq!(ticks_to_duration(u64::MAX, 0), Duration::from_secs(u64::MAX));
        assert_eq!(ticks_to_duration(36, 24), Duration::from_millis(1500));
        assert_eq!(looped_time(Duration::from_secs(u64::MAX), Duration::from_secs(1), 1), None);
        assert_eq!(looped_time(Duration::ZERO, Duration::from_secs(u64::MAX / 2), 3), None);
        assert_eq!(looped_time(Duration::from_secs(1), Duration::from_secs(20), 2), Some(Duration::from_secs(41)));
    }

    /// `bytes` with every track header's display matrix set to `turns` quarter turns clockwise.
    fn with_display_turn(mut bytes: Vec<u8>, turns: u8) -> Vec<u8> {
        let one = 0x1_0000i32;
        let (a, b, c, d) = [(one, 0, 0, one), (0, one, -one, 0), (-one, 0, 0, -one), (0, -one, one, 0)][turns as usize];
        let mut at = 0;
        let mut patched = 0;
        while let Some(p) = bytes[at..].windows(4).position(|w| w == b"tkhd").map(|p| p + at) {
            let matrix = p + if bytes[p + 4] == 1 { 56 } else { 44 };
            for (k, v) in [a, b, 0, c, d, 0, 0, 0, 0x4000_0000].into_iter().enumerate() {
                bytes[matrix + 4 * k..matrix + 4 * k + 4].copy_from_slice(&v.to_be_bytes());
            }
            patched += 1;
            at = p + 4;
        }
        assert!(patched > 0, "no track header");
        bytes
    }

    #[test]
    fn turning_moves_pixels_clockwise() {
        // 3 wide, 2 high: A B C / D E F, one byte per pixel repeated four times.
        let img: Vec<u8> = b"ABCDEF".iter().flat_map(|&p| [p; 4]).collect();
        let letters = |v: &[u8]| v.chunks(4).map(|c| c[0] as char).collect::<String>();
        let (cw, w, h) = turn_rgba(img.clone(), 3, 2, 1);
        assert_eq!(((w, h), letters(&cw).as_str()), ((2, 3), "DAEBFC"));
        let (half, w, h) = turn_rgba(img.clone(), 3, 2, 2);
        assert_eq!(((w, h), letters(&half).as_str()), ((3, 2), "FEDCBA"));
        let (ccw, w, h) = turn_rgba(img, 3, 2, 3);
        assert_eq!(((w, h), letters(&ccw).as_str()), ((2, 3), "CFBEAD"));
    }

    #[test]
    fn phone_videos_play_upright() {
        let mut plain = VideoSource::from_bytes(DEMO_CLIP.to_vec(), "demo").unwrap();
        let first = plain.next_frame().unwrap().unwrap();
        for turns in 1..4u8 {
            let mut v = VideoSource::from_bytes(with_display_turn(DEMO_CLIP.to_vec(), turns), "turned.mp4").unwrap();
            let info = v.info();
            let want = if turns == 2 { (360, 288) } else { (288, 360) };
            assert_eq!((info.width, info.height), want, "{turns} quarter turns");
            let f = v.next_frame().unwrap().unwrap();
            assert_eq!((f.width, f.height), want);
            let (turned, _, _) = turn_rgba(first.rgba.to_vec(), first.width, first.height, turns);
            assert!(f.rgba[..] == turned[..], "{turns} quarter turns: frame not turned");
        }
    }

    #[test]
    fn phone_videos_play_upright_through_ffmpeg_too() {
        let dir = std::env::temp_dir().join(format!("headroom-video-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let demo = dir.join("demo.mp4");
        std::fs::write(&demo, DEMO_CLIP).unwrap();
        let high = dir.join("high.mp4");
        let made = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(&demo)
            .args(["-frames:v", "3", "-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p", "-an"])
            .arg(&high)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("!!! phone_videos_play_upright_through_ffmpeg_too: no ffmpeg with libx264 — NOT RUN !!!");
            return;
        }
        let mut plain = VideoSource::open(&high).unwrap();
        assert!(plain.uses_ffmpeg());
        let first = plain.next_frame().unwrap().unwrap();
        let turned_path = dir.join("turned.mp4");
        std::fs::write(&turned_path, with_display_turn(std::fs::read(&high).unwrap(), 1)).unwrap();
        let mut v = VideoSource::open(&turned_path).unwrap();
        assert!(v.uses_ffmpeg());
        assert_eq!((v.info().width, v.info().height), (288, 360));
        let f = v.next_frame().unwrap().unwrap();
        let (turned, _, _) = turn_rgba(first.rgba.to_vec(), first.width, first.height, 1);
        assert!(f.rgba[..] == turned[..], "ffmpeg's frame not turned like openh264's");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("headroom-video-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        let junk = dir.join("junk.mp4");
        std::fs::write(&junk, b"this is not an mp4 file at all, just some text bytes").unwrap();
        let truncated = dir.join("truncated.mp4");
        std::fs::write(&truncated, &DEMO_CLIP[..DEMO_CLIP.len() / 3]).unwrap();
        for p in [&empty, &junk, &dir] {
            let e = VideoSource::open(p).err().expect("must fail");
            assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}");
        }
        // A truncated file opens (its header is whole: faststart) or fails cleanly; decoding
        // then ends in an error, never a panic.
        if let Ok(mut v) = VideoSource::open(&truncated) {
            let mut result = Ok(None);
            for _ in 0..480 {
                result = v.next_frame();
                if !matches!(result, Ok(Some(_))) {
                    break;
                }
            }
            assert!(result.is_err(), "a truncated clip must end in an error");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Property tests of the MP4 demuxer: `PROPTEST_CASES` sets the number of cases (256 by default);
/// README "Robustness" gives the long-run command.
#[cfg(test)]
mod props {
    use super::*;
    use crate::DEMO_CLIP;
    use proptest::prelude::*;

    /// End of the demo clip's `moov` box (its header: box tree, sample tables).
    fn header_len() -> usize {
        DEMO_CLIP.windows(4).position(|w| w == b"mdat").expect("the demo clip has an mdat") + 4
    }

    /// Opens `bytes` and, if it opens, decodes a few frames: errors are fine, panics are not, and
    /// every frame has the size the source promised.
    fn open_and_play(bytes: Vec<u8>) -> Result<(), TestCaseError> {
        let Ok(mut v) = VideoSource::from_bytes(bytes, "prop.mp4") else { return Ok(()) };
        let info = v.info();
        for _ in 0..3 {
            match v.next_frame() {
                Ok(Some(f)) => prop_assert_eq!((f.width, f.height), (info.width, info.height)),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_bytes_are_refused_or_play(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            open_and_play(bytes)?;
        }

        #[test]
        fn the_demo_clip_with_its_header_edited(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = DEMO_CLIP.to_vec();
            let n = header_len();
            for (at, b) in edits {
                bytes[at.index(n)] = b;
            }
            open_and_play(bytes)?;
        }

        #[test]
        fn the_demo_clip_with_a_box_field_set_to_an_extreme(
            at in any::<prop::sample::Index>(),
            value in prop::sample::select(vec![0u32, 1, 7, 8, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 0xffff]),
        ) {
            let mut bytes = DEMO_CLIP.to_vec();
            let i = at.index(header_len() - 4);
            bytes[i..i + 4].copy_from_slice(&value.to_be_bytes());
            open_and_play(bytes)?;
        }

        #[test]
        fn the_demo_clip_cut_short(len in 0usize..4000) {
            open_and_play(DEMO_CLIP[..len.min(DEMO_CLIP.len())].to_vec())?;
        }
    }
}
