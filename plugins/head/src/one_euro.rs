//! The One Euro filter (Casiez, Roussel & Vogel, CHI 2012): a first-order low-pass whose cutoff
//! rises with the signal's speed, so that still hands (heads) are steady and fast moves lag
//! little.

use std::f32::consts::TAU;

/// Filter settings. Tune `min_cutoff` for jitter at rest, then `beta` for lag in motion.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OneEuroConfig {
    /// Cutoff at rest, Hz.
    pub min_cutoff: f32,
    /// How much the cutoff rises per unit of speed.
    pub beta: f32,
    /// Cutoff for the speed estimate, Hz.
    pub d_cutoff: f32,
}

impl Default for OneEuroConfig {
    fn default() -> Self {
        OneEuroConfig { min_cutoff: 0.05, beta: 0.15, d_cutoff: 0.3 }
    }
}

/// One scalar channel.
#[derive(Clone, Debug)]
pub struct OneEuro {
    pub config: OneEuroConfig,
    prev: Option<(f32, f32, f64)>,
}

fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (TAU * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    pub fn new(config: OneEuroConfig) -> Self {
        OneEuro { config, prev: None }
    }

    /// Filters sample `x` taken at time `t` (seconds, increasing).
    pub fn filter(&mut self, x: f32, t: f64) -> f32 {
        let Some((x_prev, dx_prev, t_prev)) = self.prev else {
            self.prev = Some((x, 0.0, t));
            return x;
        };
        let dt = (t - t_prev) as f32;
        if dt <= 0.0 {
            return x_prev;
        }
        let dx = (x - x_prev) / dt;
        let a_d = alpha(self.config.d_cutoff, dt);
        let dx_hat = dx_prev + a_d * (dx - dx_prev);
        let cutoff = self.config.min_cutoff + self.config.beta * dx_hat.abs();
        let a = alpha(cutoff, dt);
        let x_hat = x_prev + a * (x - x_prev);
        self.prev = Some((x_hat, dx_hat, t));
        x_hat
    }

    /// The current speed estimate (units per second).
    pub fn speed(&self) -> f32 {
        self.prev.map_or(0.0, |p| p.1)
    }

    pub fn reset(&mut self) {
        self.prev = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(i: usize) -> f32 {
        // Deterministic pseudo-noise in [-1, 1].
        let h = (i as u32).wrapping_mul(2654435761) ^ 0x9e3779b9;
        let h = h.wrapping_mul(2246822519) ^ (h >> 13);
        (h % 20001) as f32 / 10000.0 - 1.0
    }

    #[test]
    fn cuts_jitter_at_rest_and_follows_ramps() {
        let fps = 30.0;
        // Still signal with ±0.25 cm noise (a face tracker's jitter at 60 cm): the std must drop ≥ 5×.
        let mut f = OneEuro::new(OneEuroConfig::default());
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for i in 0..600 {
            let x = 10.0 + 0.25 * noise(i);
            raw.push(x);
            out.push(f.filter(x, i as f64 / fps));
        }
        let std = |v: &[f32]| {
            let m = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
        };
        let ratio = std(&raw[60..]) / std(&out[60..]);
        assert!(ratio >= 5.0, "jitter cut only {ratio:.2}×");

        // 30 cm/s ramp: lag ≤ one frame (1 cm at 30 fps) once moving.
        let mut f = OneEuro::new(OneEuroConfig::default());
        let mut worst = 0.0f32;
        for i in 0..90 {
            let t = i as f64 / fps;
            let x = 30.0 * t as f32;
            let y = f.filter(x, t);
            if i >= 30 {
                worst = worst.max(x - y);
            }
        }
        assert!(worst <= 30.0 / fps as f32, "ramp lag {worst:.3} cm");
    }
}
