//! An image from the object store as an HTTP answer, the same for central's API
//! and the desk: streamed (a UVSS scan is megabytes), with its length and type,
//! and cached for good because the store is content-addressed.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

pub fn image_response(
    format: &str,
    size: u64,
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
) -> Response {
    let mime = if format == "png" { "image/png" } else { "image/jpeg" };
    let body = Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other)));
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            // Content-addressed: an image never changes under its name.
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_string()),
        ],
        body,
    )
        .into_response()
}
