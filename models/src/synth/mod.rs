//! Rendered plates and container codes with known truth: for the simulated lane's cameras (so
//! the demo and the lane tests run the real recognition), and for tests that need images
//! without `../shared`.
//!
//! Text is drawn with real fonts (Debian's `fonts-dejavu-core` for Latin, `fonts-wqy-zenhei` for
//! province characters; `scripts/setup` installs both), then placed into a scene with the things
//! a lane camera adds: a little perspective, defocus, uneven light, sensor noise. Every choice
//! comes from a seed, so a vehicle looks the same each time it is rendered. Nothing here is
//! tuned to the recognisers: the variations are those of the `eval::perturb` proxy.

mod scene;
mod text;

pub use scene::{container_scene, plate_image, plate_scene, Look};
pub use text::{draw, width, Fonts, SynthError};
