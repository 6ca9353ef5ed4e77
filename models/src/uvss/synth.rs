//! Synthetic under-vehicle pairs for tests and the detection / false-alarm evaluation.
//!
//! A procedural chassis is painted once in vehicle coordinates (4 mm per texel: frame rails,
//! cross members, corrugated heat shields, a tank, an exhaust line, bolts and brackets). A
//! pass renders it like a line-scan camera: one line per time step, so the vehicle's speed
//! (with a wobble: braking, accelerating) sets how many lines each millimetre gets; the
//! vehicle sits at a lateral offset that drifts; exposure, vignetting and sensor noise differ
//! per pass. An "object" is a box painted onto the chassis before the probe pass, with a
//! contrast of at least [`MIN_OBJECT_CONTRAST`] grey levels against what it covers.

use image::{Rgb, RgbImage};

/// Texel size of the chassis texture.
pub const MM_PER_TEXEL: f32 = 4.0;
const VEHICLE_MM: (f32, f32) = (4800.0, 1920.0);
const LANE_MM: f32 = 2400.0;
pub const MIN_OBJECT_CONTRAST: f32 = 40.0;

/// splitmix64: tiny, seedable, good enough for textures.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// Grey chassis texture in vehicle coordinates (x along the vehicle).
#[derive(Clone)]
pub struct Chassis {
    pub w: usize,
    pub h: usize,
    pub v: Vec<f32>,
}

impl Chassis {
    fn fill(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, f: impl Fn(usize, usize) -> f32) {
        let (xa, xb) = (x0.max(0.0) as usize, (x1.max(0.0) as usize).min(self.w));
        let (ya, yb) = (y0.max(0.0) as usize, (y1.max(0.0) as usize).min(self.h));
        for y in ya..yb {
            for x in xa..xb {
                self.v[y * self.w + x] = f(x, y);
            }
        }
    }

    fn disc(&mut self, cx: f32, cy: f32, r: f32, level: f32) {
        let (w, h) = (self.w, self.h);
        for y in (cy - r).max(0.0) as usize..((cy + r + 1.0).max(0.0) as usize).min(h) {
            for x in (cx - r).max(0.0) as usize..((cx + r + 1.0).max(0.0) as usize).min(w) {
                if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r {
                    self.v[y * w + x] = level;
                }
            }
        }
    }

    /// Mean texel value over a box (to choose a contrasting object level).
    pub fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f32 {
        let mut s = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                s += self.v[y * self.w + x];
            }
        }
        s / ((x1 - x0) * (y1 - y0)).max(1) as f32
    }
}

/// Paint a random but plausible underside.
// 6.283, not TAU: the synthetic scans (and the thresholds tuned on them) stay as they were.
#[allow(clippy::approx_constant)]
pub fn chassis(rng: &mut Rng) -> Chassis {
    let (w, h) = ((VEHICLE_MM.0 / MM_PER_TEXEL) as usize, (VEHICLE_MM.1 / MM_PER_TEXEL) as usize);
    let (fx, fy, ph) = (rng.range(0.005, 0.02), rng.range(0.01, 0.04), rng.range(0.0, 6.3));
    let mut c = Chassis { w, h, v: vec![0.0; w * h] };
    let base = rng.range(50.0, 90.0);
    c.fill(0.0, 0.0, w as f32, h as f32, |x, y| {
        base + 15.0 * ((x as f32 * fx + ph).sin() + (y as f32 * fy).cos())
    });
    for _ in 0..rng.range(4.0, 8.0) as usize {
        // Heat shields and panels, corrugated across the travel axis.
        let (x0, y0) = (rng.range(0.0, w as f32 - 150.0), rng.range(30.0, h as f32 - 150.0));
        let (pw, phh, lvl, per) =
            (rng.range(60.0, 260.0), rng.range(50.0, 200.0), rng.range(110.0, 210.0), rng.range(6.0, 20.0));
        c.fill(x0, y0, x0 + pw, y0 + phh, |x, _| lvl + 18.0 * (x as f32 * std::f32::consts::TAU / per).sin());
    }
    let tank = (rng.range(0.45, 0.6) * w as f32, rng.range(0.3, 0.7) * h as f32);
    c.fill(tank.0 - 90.0, tank.1 - 70.0, tank.0 + 90.0, tank.1 + 70.0, |x, y| {
        35.0 + ((x * 7 + y * 3) % 11) as f32
    });
    for rail in [0.22, 0.78] {
        let y = rail * h as f32 + rng.range(-8.0, 8.0);
        c.fill(60.0, y - 14.0, w as f32 - 60.0, y + 14.0, |_, yy| 140.0 + (yy as f32 - y).abs() * 2.0);
        let mut x = 80.0;
        while x < w as f32 - 80.0 {
            c.disc(x, y, 4.0, 220.0);
            x += rng.range(25.0, 60.0);
        }
    }
    for _ in 0..rng.range(6.0, 10.0) as usize {
        let (x, cw, lvl) = (rng.range(60.0, w as f32 - 60.0), rng.range(10.0, 36.0), rng.range(90.0, 200.0));
        c.fill(x, 40.0, x + cw, h as f32 - 40.0, |_, _| lvl);
    }
    // Exhaust: a wandering thick line from the engine bay to the rear.
    let (mut y, lvl) = (rng.range(0.35, 0.65) * h as f32, rng.range(150.0, 200.0));
    let mut x = 0.2 * w as f32;
    while x < 0.95 * w as f32 {
        c.disc(x, y, 9.0, lvl);
        y = (y + rng.range(-1.2, 1.2)).clamp(60.0, h as f32 - 60.0);
        x += 2.0;
    }
    for _ in 0..120 {
        let (x, y, r, lvl) = (
            rng.range(10.0, w as f32 - 10.0),
            rng.range(10.0, h as f32 - 10.0),
            rng.range(2.0, 9.0),
            rng.range(20.0, 240.0),
        );
        if rng.range(0.0, 1.0) < 0.5 {
            c.disc(x, y, r, lvl);
        } else {
            c.fill(x, y, x + 2.0 * r, y + r, |_, _| lvl);
        }
    }
    // Tyres at the four corners.
    for (tx, ty) in [(0.12, 0.0), (0.12, 0.9), (0.8, 0.0), (0.8, 0.9)] {
        c.fill(
            tx * w as f32,
            ty * h as f32,
            tx * w as f32 + 160.0,
            ty * h as f32 + 0.1 * h as f32,
            |x, y| 25.0 + ((x + y) % 5) as f32 * 3.0,
        );
    }
    c
}

/// A foreign object in chassis texels.
#[derive(Clone, Copy, Debug)]
pub struct Object {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    pub level: f32,
}

/// Place a random object 60..220 mm on a side, contrasting with what it covers.
pub fn random_object(c: &Chassis, rng: &mut Rng) -> Object {
    let (w, h) = (rng.range(15.0, 55.0) as usize, rng.range(15.0, 55.0) as usize);
    let (x, y) =
        (rng.range(80.0, (c.w - w - 80) as f32) as usize, rng.range(30.0, (c.h - h - 30) as f32) as usize);
    let under = c.mean(x, y, x + w, y + h);
    let mut level = rng.range(10.0, 245.0);
    if (level - under).abs() < MIN_OBJECT_CONTRAST {
        level = if under > 128.0 {
            under - MIN_OBJECT_CONTRAST - 10.0
        } else {
            under + MIN_OBJECT_CONTRAST + 10.0
        };
    }
    Object { x, y, w, h, level }
}

pub fn add_object(c: &mut Chassis, o: &Object) {
    let lvl = o.level;
    c.fill(o.x as f32, o.y as f32, (o.x + o.w) as f32, (o.y + o.h) as f32, |x, y| {
        lvl + ((x * 13 + y * 7) % 9) as f32 - 4.0
    });
}

/// How one pass over the scanner looked.
#[derive(Clone, Debug)]
pub struct Pass {
    /// Vehicle length in scan lines at nominal speed; speed = nominal / this.
    pub speed: f32,
    /// Relative speed wobble amplitude and its period in lines.
    pub wobble: f32,
    pub wobble_period: f32,
    pub lateral_mm: f32,
    pub drift_mm: f32,
    pub gain: f32,
    pub offset: f32,
    pub noise: f32,
    pub seed: u64,
}

impl Pass {
    pub fn random(rng: &mut Rng, speed: f32) -> Pass {
        Pass {
            speed,
            wobble: rng.range(0.0, 0.05),
            wobble_period: rng.range(0.5, 1.5),
            lateral_mm: rng.range(-90.0, 90.0),
            drift_mm: rng.range(-30.0, 30.0),
            gain: rng.range(0.85, 1.15),
            offset: rng.range(-12.0, 12.0),
            noise: 3.0,
            seed: rng.next_u64(),
        }
    }
}

/// Render a pass: `cross` pixels across the lane, about `nominal_len` lines for the vehicle at
/// speed 1. Travel runs along x. Also returns the vehicle x (mm) of each line.
// 6.283, not TAU: see `chassis`.
#[allow(clippy::approx_constant)]
pub fn render(c: &Chassis, p: &Pass, cross: usize, nominal_len: usize) -> (RgbImage, Vec<f32>) {
    let lead = 300.0;
    let base = VEHICLE_MM.0 / nominal_len as f32 * p.speed;
    let mut xs = Vec::new();
    let mut x = -lead;
    let mut i = 0f32;
    while x < VEHICLE_MM.0 + lead {
        xs.push(x);
        let period = p.wobble_period * nominal_len as f32;
        x += base * (1.0 + p.wobble * (i * std::f32::consts::TAU / period).sin());
        i += 1.0;
    }
    let mm_px = LANE_MM / cross as f32;
    let mut img = RgbImage::new(xs.len() as u32, cross as u32);
    let mut rng = Rng::new(p.seed);
    for (line, &vx) in xs.iter().enumerate() {
        let frac = vx / VEHICLE_MM.0;
        let lat = (LANE_MM - VEHICLE_MM.1) / 2.0 + p.lateral_mm + p.drift_mm * frac;
        for yp in 0..cross {
            let vy = yp as f32 * mm_px - lat;
            let (tx, ty) = (vx / MM_PER_TEXEL, vy / MM_PER_TEXEL);
            let v = if tx >= 0.0 && ty >= 0.0 && tx < (c.w - 1) as f32 && ty < (c.h - 1) as f32 {
                let (x0, y0) = (tx as usize, ty as usize);
                let (fx, fy) = (tx - x0 as f32, ty - y0 as f32);
                let at = |x: usize, y: usize| c.v[y * c.w + x];
                let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * fx;
                let bot = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * fx;
                top + (bot - top) * fy
            } else {
                20.0 // road, unlit
            };
            let e = (yp as f32 / cross as f32 - 0.5) * 2.0;
            let noise = (rng.range(-1.0, 1.0) + rng.range(-1.0, 1.0) + rng.range(-1.0, 1.0)) * p.noise;
            let g = (v * p.gain * (1.0 - 0.15 * e * e) + p.offset + noise).clamp(0.0, 255.0) as u8;
            img.put_pixel(line as u32, yp as u32, Rgb([g, g, g]));
        }
    }
    (img, xs)
}

/// A reference / probe pair; `object` is the planted object's box in probe pixels (x, y, w, h).
pub struct Pair {
    pub reference: RgbImage,
    pub probe: RgbImage,
    pub object: Option<(u32, u32, u32, u32)>,
    /// Vehicle position (mm) of every line of each scan: the true travel mapping.
    pub reference_mm: Vec<f32>,
    pub probe_mm: Vec<f32>,
}

/// One random pair: same chassis, independent passes (speed ratio 0.8..1.25), with or
/// without an object. Deterministic in `seed`.
pub fn pair(seed: u64, with_object: bool, cross: usize, nominal_len: usize) -> Pair {
    let mut rng = Rng::new(seed);
    let clean = chassis(&mut rng);
    let speed = rng.range(0.8, 1.25);
    let (pr, pp) = (Pass::random(&mut rng, 1.0), Pass::random(&mut rng, speed));
    let (reference, reference_mm) = render(&clean, &pr, cross, nominal_len);
    if !with_object {
        let (probe, probe_mm) = render(&clean, &pp, cross, nominal_len);
        return Pair { probe, reference, object: None, reference_mm, probe_mm };
    }
    let obj = random_object(&clean, &mut rng);
    let mut dirty = clean.clone();
    add_object(&mut dirty, &obj);
    let (probe, xs) = render(&dirty, &pp, cross, nominal_len);
    let (ox0, ox1) = (obj.x as f32 * MM_PER_TEXEL, (obj.x + obj.w) as f32 * MM_PER_TEXEL);
    let lines: Vec<usize> = (0..xs.len()).filter(|&i| xs[i] >= ox0 && xs[i] <= ox1).collect();
    let mm_px = LANE_MM / cross as f32;
    let frac = (ox0 + ox1) / 2.0 / VEHICLE_MM.0;
    let lat = (LANE_MM - VEHICLE_MM.1) / 2.0 + pp.lateral_mm + pp.drift_mm * frac;
    let y0 = ((obj.y as f32 * MM_PER_TEXEL + lat) / mm_px).max(0.0) as u32;
    let hh = (obj.h as f32 * MM_PER_TEXEL / mm_px).ceil() as u32;
    let (l0, l1) = (*lines.first().unwrap_or(&0) as u32, *lines.last().unwrap_or(&0) as u32);
    Pair { reference, probe, object: Some((l0, y0, (l1 - l0).max(1), hh.max(1))), reference_mm, probe_mm: xs }
}

/// One pass of one vehicle for a simulated lane: the chassis follows from `vehicle_seed` (a
/// vehicle looks the same every time it comes), the pass (speed, lateral position, exposure)
/// from `pass_seed`. With `parcel`, a 400 x 300 mm box hangs under the middle of the floor pan:
/// a planted object the comparison must find even on the small scans a simulation renders.
pub fn vehicle_scan(
    vehicle_seed: u64,
    pass_seed: u64,
    parcel: bool,
    cross: usize,
    nominal_len: usize,
) -> RgbImage {
    let mut rng = Rng::new(vehicle_seed);
    let mut c = chassis(&mut rng);
    if parcel {
        let (w, h) = ((400.0 / MM_PER_TEXEL) as usize, (300.0 / MM_PER_TEXEL) as usize);
        let (x, y) = (c.w / 2 - w / 2, c.h / 2 - h / 2);
        let under = c.mean(x, y, x + w, y + h);
        let level = if under > 128.0 { under - 90.0 } else { under + 90.0 };
        add_object(&mut c, &Object { x, y, w, h, level });
    }
    let mut rng = Rng::new(pass_seed);
    let speed = rng.range(0.9, 1.1);
    render(&c, &Pass::random(&mut rng, speed), cross, nominal_len).0
}
