//! What the lane is after, read from [`crate::ocr`]'s lines: container codes and plates.
//!
//! The parsers know the formats (ISO 6346: owner, category, serial and check digit; GA 36: province,
//! letter and five or six characters) and use them to pick among each character's alternatives,
//! to decode a line under a layout when the plain read does not fit, and to join pieces of one
//! code. Format knowledge lives only here, so the OCR layer stays generic.
//! - [`iso6346`], [`container`], [`checkdigit`]: container codes;
//! - [`plate`]: the GA 36 format; [`plates`]: every plate of an image, from [`plate_read`]
//!   (text lines), [`plate_find`] (colour regions), [`plate_det`] (the plate detector) and
//!   [`plate_dual`] (two recognisers), merged and ranked by [`plate_rank`];
//! - [`image`]: one image → an [`image::ImageResult`] with both;
//! - [`calibrate`]: every read's confidence, a calibrated probability that it is right.

pub mod calibrate;
pub mod checkdigit;
pub mod container;
pub mod image;
pub mod iso6346;
pub mod options;
pub mod plate;
pub mod plate_det;
pub mod plate_dual;
pub mod plate_find;
pub mod plate_rank;
pub mod plate_read;
pub mod plates;
