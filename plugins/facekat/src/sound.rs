//! FaceKat's sound effects, synthesised (no sample files): a rising chirp to start, a thud and
//! crackle on a hit, a short two-note cue when the obstacle pattern changes, a falling three-note
//! phrase at game over. Pure functions (no Bevy); the plugin plays them when built with the
//! `sound` cargo feature (which needs ALSA's development files on Linux: `libasound2-dev`).

/// Sample rate of the synthesised effects.
pub const RATE: u32 = 44_100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sfx {
    Start,
    Hit,
    Pattern,
    GameOver,
}

impl Sfx {
    pub const ALL: [Sfx; 4] = [Sfx::Start, Sfx::Hit, Sfx::Pattern, Sfx::GameOver];
}

fn envelope(t: f32, attack: f32, len: f32) -> f32 {
    if t < attack { t / attack } else { (1.0 - (t - attack) / (len - attack)).max(0.0).powi(2) }
}

/// Mono samples in −1…1.
pub fn synth(sfx: Sfx) -> Vec<f32> {
    let r = RATE as f32;
    let tone = |out: &mut Vec<f32>, start: f32, len: f32, f0: f32, f1: f32, amp: f32| {
        let s0 = (start * r) as usize;
        let n = (len * r) as usize;
        if out.len() < s0 + n {
            out.resize(s0 + n, 0.0);
        }
        let mut phase = 0.0f32;
        for i in 0..n {
            let t = i as f32 / r;
            let f = f0 + (f1 - f0) * t / len;
            phase += std::f32::consts::TAU * f / r;
            // A little third harmonic for a rounder, more audible tone.
            out[s0 + i] += amp * envelope(t, 0.005, len) * (phase.sin() + 0.3 * (3.0 * phase).sin()) / 1.3;
        }
    };
    let mut out = Vec::new();
    match sfx {
        Sfx::Start => tone(&mut out, 0.0, 0.25, 330.0, 880.0, 0.5),
        Sfx::Pattern => {
            tone(&mut out, 0.0, 0.09, 660.0, 660.0, 0.35);
            tone(&mut out, 0.09, 0.12, 990.0, 990.0, 0.35);
        }
        Sfx::GameOver => {
            tone(&mut out, 0.0, 0.22, 523.0, 523.0, 0.45);
            tone(&mut out, 0.22, 0.22, 392.0, 392.0, 0.45);
            tone(&mut out, 0.44, 0.5, 262.0, 196.0, 0.5);
        }
        Sfx::Hit => {
            tone(&mut out, 0.0, 0.3, 140.0, 45.0, 0.7);
            // Deterministic noise crackle on top.
            let mut s = 0x2545_f491u32;
            for (i, v) in out.iter_mut().enumerate().take((0.12 * r) as usize) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let noise = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
                *v += 0.35 * noise * envelope(i as f32 / r, 0.002, 0.12);
            }
        }
    }
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 0.95 {
        out.iter_mut().for_each(|v| *v *= 0.95 / peak);
    }
    out
}

/// 16-bit PCM mono WAV bytes.
pub fn wav(samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&RATE.to_le_bytes());
    b.extend_from_slice(&(RATE * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for v in samples {
        b.extend_from_slice(&((v.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_are_short_audible_and_never_clip() {
        for sfx in Sfx::ALL {
            let s = synth(sfx);
            let secs = s.len() as f32 / RATE as f32;
            assert!((0.1..1.5).contains(&secs), "{sfx:?}: {secs} s");
            let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(peak > 0.2 && peak <= 0.95 + 1e-6, "{sfx:?}: peak {peak}");
            // Ends quietly (no click).
            assert!(s.last().unwrap().abs() < 0.05, "{sfx:?}");
        }
        assert_ne!(synth(Sfx::Hit), synth(Sfx::Start));
    }

    #[test]
    fn the_start_chirp_rises_in_pitch() {
        let s = synth(Sfx::Start);
        let crossings = |part: &[f32]| part.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        let q = s.len() / 4;
        assert!(crossings(&s[3 * q..]) > crossings(&s[..q]) * 2);
    }

    #[test]
    fn wav_header_is_valid_pcm() {
        let b = wav(&[0.0, 1.0, -1.0]);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize, b.len() - 8);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), RATE);
        assert_eq!(u32::from_le_bytes(b[40..44].try_into().unwrap()), 6);
        assert_eq!(i16::from_le_bytes([b[46], b[47]]), 32767);
        assert_eq!(i16::from_le_bytes([b[48], b[49]]), -32767);
    }
}
