//! A minimal HTTP/1.1 client for one thing: `GET` a snapshot from a camera on
//! the lane's network. No TLS (cameras sit on an isolated lane LAN), one request
//! per connection (`Connection: close`, which every camera honours and which
//! makes a hung connection impossible to reuse by mistake), bodies by
//! `Content-Length`, chunked transfer coding or end of stream, all with hard
//! size limits. A full client stack would be several times the code we use.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAX_HEADER: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before the response was complete")]
    Incomplete,
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("response body exceeds {max} bytes")]
    TooLarge { max: usize },
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    host: &str,
    path: &str,
    authorization: Option<&str>,
    max_body: usize,
) -> Result<Response, HttpError> {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lanectl\r\nAccept: image/jpeg\r\nConnection: close\r\n"
    );
    if let Some(a) = authorization {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    s.flush().await?;
    let mut buf = BytesMut::with_capacity(8192);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEADER {
            return Err(HttpError::Malformed("header section too long"));
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Err(HttpError::Incomplete);
        }
    };
    let head = buf.split_to(head_end + 4);
    let head =
        std::str::from_utf8(&head[..head_end]).map_err(|_| HttpError::Malformed("header is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().unwrap_or("").starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts.next().and_then(|c| c.parse().ok()).ok_or(HttpError::Malformed("bad status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut resp = Response { status, headers, body: Bytes::new() };
    let chunked =
        resp.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    resp.body = if chunked {
        read_chunked(&mut s, buf, max_body).await?
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| HttpError::Malformed("bad Content-Length"))?;
        if len > max_body {
            return Err(HttpError::TooLarge { max: max_body });
        }
        while buf.len() < len {
            if s.read_buf(&mut buf).await? == 0 {
                return Err(HttpError::Incomplete);
            }
        }
        buf.truncate(len);
        buf.freeze()
    } else {
        loop {
            if buf.len() > max_body {
                return Err(HttpError::TooLarge { max: max_body });
            }
            if s.read_buf(&mut buf).await? == 0 {
                break buf.freeze();
            }
        }
    };
    Ok(resp)
}

async fn read_chunked<S: AsyncRead + Unpin>(
    s: &mut S,
    mut buf: BytesMut,
    max_body: usize,
) -> Result<Bytes, HttpError> {
    let mut body = BytesMut::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if buf.len() > 1024 {
                return Err(HttpError::Malformed("chunk size line too long"));
            }
            if s.read_buf(&mut buf).await? == 0 {
                return Err(HttpError::Incomplete);
            }
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| HttpError::Malformed("chunk size"))?;
        buf.advance(line_end + 2);
        if size == 0 {
            return Ok(body.freeze());
        }
        if body.len() + size > max_body {
            return Err(HttpError::TooLarge { max: max_body });
        }
        while buf.len() < size + 2 {
            if s.read_buf(&mut buf).await? == 0 {
                return Err(HttpError::Incomplete);
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn roundtrip(reply: impl AsRef<[u8]> + Send + 'static) -> Result<Response, HttpError> {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut req = vec![0u8; 4096];
            let _ = server.read(&mut req).await;
            // The client may stop reading (a body over the limit) before the end.
            let _ = server.write_all(reply.as_ref()).await;
        });
        get(client, "cam", "/snap.jpg", None, 1024).await
    }

    #[tokio::test]
    async fn content_length_chunked_and_eof_bodies() {
        let r = roundtrip(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"abc"[..]));
        let r = roundtrip(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;x=y\r\ncde\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(&r.body[..], b"abcde");
        let r = roundtrip(b"HTTP/1.0 200 OK\r\n\r\nxyz").await.unwrap();
        assert_eq!(&r.body[..], b"xyz");
    }

    #[tokio::test]
    async fn broken_responses_are_typed_errors() {
        assert!(matches!(
            roundtrip(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await,
            Err(HttpError::Incomplete)
        ));
        assert!(matches!(roundtrip(b"\x00\x17garbage\r\n\r\n").await, Err(HttpError::Malformed(_))));
        assert!(matches!(
            roundtrip(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n").await,
            Err(HttpError::TooLarge { .. })
        ));
    }

    proptest::proptest! {
        /// Whatever a camera (or something posing as one) sends: an answer
        /// within the limits or a typed error, never a panic or a hang.
        #[test]
        fn any_reply_is_a_response_or_a_typed_error(
            head in proptest::option::of(proptest::sample::select(vec![
                "HTTP/1.1 200 OK\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: ",
            ])),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        ) {
            let mut reply = head.unwrap_or_default().as_bytes().to_vec();
            reply.extend(tail);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let got = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), roundtrip(reply)).await });
            // A typed error is a fine outcome; an answer must respect the body limit.
            if let Ok(r) = got.expect("the reply ends, so the parse ends") {
                proptest::prop_assert!(r.body.len() <= 1024);
            }
        }
    }
}
