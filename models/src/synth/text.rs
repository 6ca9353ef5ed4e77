//! Fonts and drawing text into an image.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
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
    pub latin: FontRef<'static>,
    /// Condensed Latin (upright characters of vertical codes).
    pub condensed: FontRef<'static>,
    /// Province characters and plate text.
    pub han: FontRef<'static>,
}

/// The font file at `path`, mapped into memory once per process and kept for its life.
///
/// Mapped rather than read: only the pages a rendering touches (the tables that find a glyph and
/// the few glyphs of plates and codes) become resident. Read into the heap, the CJK collection
/// alone put 17 MB into the resident memory of every simulated lane.
fn mapped(path: &'static str, package: &'static str) -> Result<&'static [u8], SynthError> {
    static MAPS: Mutex<Vec<(&'static str, &'static [u8])>> = Mutex::new(Vec::new());
    let mut maps = MAPS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, bytes)) = maps.iter().find(|(p, _)| *p == path) {
        return Ok(bytes);
    }
    let missing = || SynthError::FontMissing { path: path.into(), package };
    let file = File::open(path).map_err(|_| missing())?;
    // SAFETY: the bytes must not change while the process runs (a file changed in place would
    // change them under the font parser; one truncated would end the process with SIGBUS).
    // These are packaged system fonts: dpkg replaces such files by renaming a new one into
    // place, which leaves the mapped inode as it was.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|_| SynthError::FontInvalid { path: path.into() })?;
    let bytes: &'static [u8] = Box::leak(Box::new(map));
    maps.push((path, bytes));
    Ok(bytes)
}

fn load(path: &'static str, package: &'static str) -> Result<FontRef<'static>, SynthError> {
    FontRef::try_from_slice_and_index(mapped(path, package)?, 0)
        .map_err(|_| SynthError::FontInvalid { path: path.into() })
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
pub fn draw<F: Font>(img: &mut RgbImage, f: &F, text: &str, x: f32, y: f32, px: f32, color: Rgb<u8>) -> f32 {
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
pub fn width<F: Font>(f: &F, text: &str, px: f32) -> f32 {
    let sf = f.as_scaled(PxScale::from(px));
    text.chars().map(|c| sf.h_advance(sf.glyph_id(c))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_font_file_is_mapped_once_per_process() {
        if !Fonts::installed() {
            eprintln!("skipped: the system fonts are not installed (scripts/setup)");
            return;
        }
        let first = mapped(WQY_ZENHEI, "fonts-wqy-zenhei").expect("mapped");
        let again = mapped(WQY_ZENHEI, "fonts-wqy-zenhei").expect("mapped");
        assert!(std::ptr::eq(first, again), "the same mapping, not a second one");
        assert_eq!(&first[..4], b"ttcf", "the collection's own bytes");
        let fonts = Fonts::system().expect("the system fonts");
        assert!(width(&fonts.han, "粤B", 40.0) > 40.0, "the province and a letter have width");
    }

    #[test]
    fn a_missing_font_names_its_package() {
        let err = load("/nonexistent/lane-font.ttf", "fonts-lane").expect_err("no such file");
        assert!(err.to_string().contains("fonts-lane"), "{err}");
    }
}
