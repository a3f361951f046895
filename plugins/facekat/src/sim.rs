//! The game as a pure simulation: `Game::step(dt, input)` advances the world and returns what
//! happened. Seeded, so a run replays exactly from (seed, inputs). Constants follow FaceKat
//! (a port of FastKat), whose rules are per 60 Hz frame; `step` scales them to any `dt`.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Per-frame rules of the original, at 60 frames per second.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub obstacles: usize,
    /// Half extents of the obstacle field (x, y) and its depth, world units.
    pub field_half: (f32, f32),
    pub depth: f32,
    /// Collision box half size on each axis.
    pub hit_half: f32,
    pub lives: u32,
    pub grace_frames: f32,
    pub knockback_speed: f32,
    pub accel: f32,
    pub start_max_speed: f32,
    pub max_speed_growth: f32,
    pub max_speed_cap: f32,
    pub brake: f32,
    /// Camera easing towards the steering target, per frame.
    pub ease: f32,
    /// Steering ±1 maps to ±reach (x, y).
    pub reach: (f32, f32),
    /// Distance between pattern switches: base + random · spread.
    pub switch_base: f32,
    pub switch_spread: f32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            obstacles: 200,
            field_half: (1200.0, 900.0),
            depth: 6000.0,
            hit_half: 50.0,
            lives: 3,
            grace_frames: 50.0,
            knockback_speed: -3.0,
            accel: 0.02,
            start_max_speed: 50.0,
            max_speed_growth: 0.008,
            max_speed_cap: 150.0,
            brake: 0.75,
            ease: 0.08,
            reach: (700.0, 600.0),
            switch_base: 3000.0,
            switch_spread: 10000.0,
        }
    }
}

/// How obstacles are laid out as they respawn far ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Scattered,
    /// Walls across the way with one hole.
    Walls,
    /// A ring around a slowly wandering centre.
    Tunnel,
    /// Vertical pillars.
    Pillars,
    /// A helix.
    Spiral,
}

pub const PATTERNS: [Pattern; 5] =
    [Pattern::Scattered, Pattern::Walls, Pattern::Tunnel, Pattern::Pillars, Pattern::Spiral];

/// The player's controls for one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Input {
    /// −1…1 (head or mouse): where to steer, x right and y up.
    pub steer: (f32, f32),
    pub brake: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Hit { lives_left: u32 },
    PatternChanged(Pattern),
    GameOver { score: u64 },
}

#[derive(Debug)]
pub struct Game {
    pub rules: Rules,
    rng: StdRng,
    /// Obstacle positions; the camera sits at z = 0 looking towards −z.
    pub obstacles: Vec<[f32; 3]>,
    pub camera: (f32, f32),
    pub speed: f32,
    pub max_speed: f32,
    pub lives: u32,
    /// Frames of invulnerability left after a hit.
    pub grace: f32,
    pub distance: f64,
    score: f64,
    pub pattern: Pattern,
    next_switch: f64,
    /// Phase for the tunnel's and spiral's motion.
    phase: f32,
    pub over: bool,
    pub frames: f64,
}

impl Game {
    pub fn new(seed: u64, rules: Rules) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let next_switch = f64::from(rules.switch_base + rng.random::<f32>() * rules.switch_spread);
        let mut g = Game {
            obstacles: Vec::with_capacity(rules.obstacles),
            camera: (0.0, 0.0),
            speed: 0.0,
            max_speed: rules.start_max_speed,
            lives: rules.lives,
            grace: 0.0,
            distance: 0.0,
            score: 0.0,
            pattern: Pattern::Scattered,
            next_switch,
            phase: 0.0,
            over: false,
            frames: 0.0,
            rng,
            rules,
        };
        for i in 0..g.rules.obstacles {
            // Spread the first field over the whole depth, leaving the first stretch empty.
            let z = -g.rules.depth * (0.25 + 0.75 * i as f32 / g.rules.obstacles as f32);
            let p = g.spawn(z);
            g.obstacles.push(p);
        }
        g
    }

    pub fn score(&self) -> u64 {
        self.score as u64
    }

    fn spawn(&mut self, z: f32) -> [f32; 3] {
        let (hx, hy) = self.rules.field_half;
        let r = &mut self.rng;
        match self.pattern {
            Pattern::Scattered => [r.random_range(-hx..hx), r.random_range(-hy..hy), z],
            Pattern::Walls => {
                // Walls every 600 units; a hole of 350 around a point that changes per wall.
                let wall = (z / 600.0).floor();
                let zz = wall * 600.0;
                let mut wr = StdRng::seed_from_u64(wall.to_bits() as u64 ^ 0x5eed);
                let hole = (wr.random_range(-hx * 0.6..hx * 0.6), wr.random_range(-hy * 0.6..hy * 0.6));
                loop {
                    let (x, y) = (r.random_range(-hx..hx), r.random_range(-hy..hy));
                    if (x - hole.0).abs() > 350.0 || (y - hole.1).abs() > 350.0 {
                        break [x, y, zz];
                    }
                }
            }
            Pattern::Tunnel => {
                let a = r.random_range(0.0..std::f32::consts::TAU);
                let centre = ((z * 0.0007 + self.phase).sin() * hx * 0.4, (z * 0.0005 + self.phase).cos() * hy * 0.4);
                [centre.0 + 500.0 * a.cos(), centre.1 + 500.0 * a.sin(), z]
            }
            Pattern::Pillars => {
                let x = (r.random_range(-6i32..=6) as f32) * hx / 6.0;
                [x, r.random_range(-hy..hy), z]
            }
            Pattern::Spiral => {
                let a = z * 0.004 + self.phase;
                let rad = r.random_range(150.0..700.0);
                [rad * a.cos(), rad * a.sin(), z]
            }
        }
    }

    /// Advances by `dt` seconds with `input`; returns what happened.
    pub fn step(&mut self, dt: f32, input: Input) -> Vec<Event> {
        let mut events = Vec::new();
        if self.over || dt.is_nan() || dt <= 0.0 {
            return events;
        }
        let f = (dt * 60.0).min(10.0); // frames at 60 Hz; long stalls are clamped
        let rules = &self.rules;
        self.frames += f64::from(f);
        // Speed ramps towards a cap that itself grows.
        self.max_speed = (self.max_speed + rules.max_speed_growth * f).min(rules.max_speed_cap);
        self.speed = (self.speed + rules.accel * f).min(self.max_speed);
        if input.brake {
            self.speed *= rules.brake.powf(f);
        }
        // The camera eases towards the steering target.
        let target = (input.steer.0.clamp(-1.0, 1.0) * rules.reach.0, input.steer.1.clamp(-1.0, 1.0) * rules.reach.1);
        let k = 1.0 - (1.0 - rules.ease).powf(f);
        self.camera.0 += (target.0 - self.camera.0) * k;
        self.camera.1 += (target.1 - self.camera.1) * k;
        let dz = self.speed * f;
        self.distance += f64::from(dz.max(0.0));
        self.score += f64::from(dz.max(0.0)) / 10.0;
        self.grace = (self.grace - f).max(0.0);
        self.phase += 0.002 * f;

        // Move obstacles; test collisions along the way; respawn those that passed.
        let (cx, cy, h) = (self.camera.0, self.camera.1, self.rules.hit_half);
        let mut hit = false;
        for i in 0..self.obstacles.len() {
            let [x, y, z] = self.obstacles[i];
            let nz = z + dz;
            // Swept along z so fast speeds cannot tunnel through the camera.
            let crosses = (z.min(nz) - h) <= 0.0 && (z.max(nz) + h) >= 0.0;
            if crosses && (x - cx).abs() < h && (y - cy).abs() < h {
                hit = true;
            }
            if nz > h {
                let far = nz - h - self.rules.depth;
                self.obstacles[i] = self.spawn(far);
            } else {
                self.obstacles[i][2] = nz;
            }
        }
        if hit && self.grace <= 0.0 {
            self.lives -= 1;
            self.grace = self.rules.grace_frames;
            self.speed = self.rules.knockback_speed;
            events.push(Event::Hit { lives_left: self.lives });
            if self.lives == 0 {
                self.over = true;
                events.push(Event::GameOver { score: self.score() });
                return events;
            }
        }
        if self.distance >= self.next_switch {
            let current = self.pattern;
            let others: Vec<Pattern> = PATTERNS.iter().copied().filter(|p| *p != current).collect();
            self.pattern = others[self.rng.random_range(0..others.len())];
            self.next_switch =
                self.distance + f64::from(self.rules.switch_base + self.rng.random::<f32>() * self.rules.switch_spread);
            events.push(Event::PatternChanged(self.pattern));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f32 = 1.0 / 60.0;

    #[test]
    fn speed_ramps_and_caps() {
        let mut g = Game::new(1, Rules { obstacles: 0, ..Rules::default() });
        g.step(DT, Input::default());
        assert!((g.speed - 0.02).abs() < 1e-6);
        assert!((g.max_speed - 50.008).abs() < 1e-4);
        for _ in 0..60 * 60 * 4 {
            g.step(DT, Input::default());
        }
        // Max speed: 50 + 0.008/frame reaches its cap of 150 after 12,500 frames; speed follows.
        assert_eq!(g.max_speed, 150.0);
        assert!(g.speed <= g.max_speed && g.speed > 140.0, "{}", g.speed);
        let before = g.speed;
        g.step(DT, Input { brake: true, ..Input::default() });
        assert!(g.speed < before * 0.8);
    }

    fn obstacle_ahead(g: &mut Game) {
        // One obstacle right in front of the camera.
        g.obstacles = vec![[g.camera.0, g.camera.1, -60.0]];
        g.speed = 20.0;
    }

    #[test]
    fn a_collision_costs_exactly_one_life_and_starts_the_grace_period() {
        let mut g = Game::new(2, Rules { obstacles: 0, ..Rules::default() });
        obstacle_ahead(&mut g);
        let ev = g.step(DT, Input::default());
        assert_eq!(ev, vec![Event::Hit { lives_left: 2 }]);
        assert_eq!(g.lives, 2);
        assert_eq!(g.speed, -3.0);
        assert!((g.grace - 50.0).abs() < 1e-6);
        // Inside the grace period another obstacle costs nothing.
        obstacle_ahead(&mut g);
        assert!(g.step(DT, Input::default()).iter().all(|e| !matches!(e, Event::Hit { .. })));
        assert_eq!(g.lives, 2);
        // An obstacle off to the side is no hit.
        let mut g = Game::new(3, Rules { obstacles: 0, ..Rules::default() });
        g.obstacles = vec![[200.0, 0.0, -30.0]];
        g.speed = 20.0;
        assert!(g.step(DT, Input::default()).is_empty());
    }

    #[test]
    fn three_hits_end_the_game() {
        let mut g = Game::new(4, Rules { obstacles: 0, ..Rules::default() });
        let mut events = Vec::new();
        for _ in 0..3 {
            g.grace = 0.0;
            obstacle_ahead(&mut g);
            events.extend(g.step(DT, Input::default()));
        }
        assert!(g.over);
        assert_eq!(g.lives, 0);
        assert!(matches!(events.last(), Some(Event::GameOver { .. })));
        assert!(g.step(DT, Input::default()).is_empty(), "nothing happens after game over");
    }

    #[test]
    fn patterns_switch_with_distance() {
        let mut g = Game::new(5, Rules { obstacles: 20, ..Rules::default() });
        let mut seen = vec![g.pattern];
        for _ in 0..60 * 120 {
            g.grace = 1e9; // invulnerable: this test is about patterns
            for e in g.step(DT, Input::default()) {
                if let Event::PatternChanged(p) = e {
                    assert_ne!(Some(&p), seen.last());
                    seen.push(p);
                }
            }
        }
        assert!(seen.len() >= 3, "{seen:?} over {} units", g.distance);
    }

    fn play(seed: u64) -> (u64, u32, f64) {
        let mut g = Game::new(seed, Rules::default());
        for i in 0..60 * 90 {
            let t = i as f32 / 60.0;
            let input = Input { steer: ((t * 0.7).sin(), (t * 0.45).cos() * 0.8), brake: i % 400 < 20 };
            g.step(DT, input);
            if g.over {
                break;
            }
        }
        (g.score(), g.lives, g.distance)
    }

    #[test]
    fn the_same_seed_and_inputs_replay_exactly() {
        assert_eq!(play(42), play(42));
        assert_ne!(play(42), play(43));
        let (score, _, _) = play(42);
        assert!(score > 0);
    }
}
