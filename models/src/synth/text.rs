//! Fonts and drawing text into an image.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// A font the renderer needs is not installed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("font {path} not found: install the Debian package {package} (scripts/setup does)")]
    FontMissing { path: PathBuf, package: &'static str },
    #[error("font {path} could not be parsed")]
    FontInvalid { path: PathBuf },
}

const DEJAVU_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
const DEJAVU_CONDENSED: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf";
const WQY_ZENHEI: &str = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc";

/// The fonts plates and container codes are drawn with.
pub struct Fonts {
    /// Latin letters and digits (container codes).
    pub latin: FontVec,
    /// Condensed Latin (upright characters of vertical codes).
    pub condensed: FontVec,
    /// Province characters and plate text.
    pub han: FontVec,
}

fn load(path: &str, package: &'static str) -> Result<FontVec, SynthError> {
    let data = std::fs::read(path).map_err(|_| SynthError::FontMissing { path: path.into(), package })?;
    FontVec::try_from_vec_and_index(data, 0).map_err(|_| SynthError::FontInvalid { path: path.into() })
}

impl Fonts {
    /// The Debian fonts at their standard paths.
    pub fn system() -> Result<Fonts, SynthError> {
        Ok(Fonts {
            latin: load(DEJAVU_BOLD, "fonts-dejavu-core")?,
            condensed: load(DEJAVU_CONDENSED, "fonts-dejavu-core")?,
            han: load(WQY_ZENHEI, "fonts-wqy-zenhei")?,
        })
    }

    /// Whether the system fonts are installed (tests skip with a message when not).
    pub fn installed() -> bool {
        [DEJAVU_BOLD, DEJAVU_CONDENSED, WQY_ZENHEI].iter().all(|p| Path::new(p).exists())
    }
}

/// Draw `text` with its top-left at (x, y) and `px` pixels tall; returns the advance width.
pub fn draw(img: &mut RgbImage, f: &FontVec, text: &str, x: f32, y: f32, px: f32, color: Rgb<u8>) -> f32 {
    let sf = f.as_scaled(PxScale::from(px));
    let mut pen = x;
    for ch in text.chars() {
        let mut g = sf.scaled_glyph(ch);
        let adv = sf.h_advance(g.id);
        g.position = ab_glyph::point(pen, y + sf.ascent());
        if let Some(o) = f.outline_glyph(g) {
            let b = o.px_bounds();
            o.draw(|gx, gy, cov| {
                let (px_, py_) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                if px_ >= 0 && py_ >= 0 && (px_ as u32) < img.width() && (py_ as u32) < img.height() {
                    let p = img.get_pixel_mut(px_ as u32, py_ as u32);
                    for k in 0..3 {
                        p[k] = (p[k] as f32 * (1.0 - cov) + color[k] as f32 * cov) as u8;
                    }
                }
            });
        }
        pen += adv;
    }
    pen - x
}

/// Advance width of `text` at `px` pixels.
pub fn width(f: &FontVec, text: &str, px: f32) -> f32 {
    let sf = f.as_scaled(PxScale::from(px));
    text.chars().map(|c| sf.h_advance(sf.glyph_id(c))).sum()
}
