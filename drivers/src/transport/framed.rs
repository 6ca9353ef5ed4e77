//! Reading frames off a byte stream with a no-I/O codec, in the manner of
//! rumqttc's `framed.rs`: read into a buffer, call `decode` until it returns
//! `Ok(None)`, read more. Codec errors have consumed bytes (the codecs'
//! resynchronisation contract), so they are handed to the caller to count and the
//! loop simply goes on. A read of zero bytes is a hang-up: a closed TCP socket, a
//! PTY whose other end went away, or a USB-serial adapter that was unplugged
//! (serialport then returns `Ok(0)` forever), and the only cure is to reopen.
//!
//! Two-wire RS-485 adapters without echo suppression hear their own request.
//! The bytes just sent are therefore remembered, and if the stream starts with
//! exactly them they are dropped before decoding. For the seal reader, the
//! detector and the UVSS camera a reply never equals its request, so on links
//! without echo this costs nothing. Modbus is different: the reply to "write
//! single coil" *is* the request, byte for byte, so guessing would swallow the
//! reply and time out; the Modbus master therefore turns the guess off and
//! takes the echo from its configuration ([`Framed::set_echo`]).

use std::fmt::Display;
use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Duration, Instant};

/// Why a stream cannot be used any more; the session ends and the driver reconnects.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the device hung up (end of stream); reopening")]
    Hangup,
    #[error("I/O error: {0}; reopening")]
    Io(#[from] io::Error),
}

/// A stream plus its receive buffer.
pub struct Framed<S> {
    stream: S,
    buf: BytesMut,
    /// The last request sent, until it is seen echoed or ruled out.
    echo: Option<Vec<u8>>,
    /// Whether to look for our own request coming back at all.
    expect_echo: bool,
    /// When bytes last arrived, valid or not: a streaming device whose frames
    /// are all corrupt is still talking, which is not the same fault as silence.
    last_rx: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    pub fn new(stream: S) -> Self {
        Framed {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            echo: None,
            expect_echo: true,
            last_rx: Instant::now(),
        }
    }

    /// `false`: never drop bytes as an echo of our request (the default is to
    /// drop them when they match). For protocols whose replies can equal their
    /// requests, where only the installer knows whether the adapter echoes.
    pub fn set_echo(&mut self, expect_echo: bool) {
        self.expect_echo = expect_echo;
        if !expect_echo {
            self.echo = None;
        }
    }

    /// Writes one encoded frame and flushes it.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        self.echo = self.expect_echo.then(|| bytes.to_vec());
        Ok(())
    }

    /// Reads once more into the buffer. Cancel-safe: a read either appended
    /// bytes or did nothing, so it can sit in a `select!` or under a timeout.
    pub async fn fill(&mut self) -> Result<usize, LinkError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(LinkError::Hangup),
            Ok(n) => {
                self.last_rx = Instant::now();
                Ok(n)
            }
            // A PTY whose master closed reports EIO; treat it like a hang-up.
            Err(e) if e.raw_os_error() == Some(5) => Err(LinkError::Hangup),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// The next message; every codec error is passed to `on_error` (count it,
    /// log it) and decoding continues. Cancel-safe like [`Framed::fill`].
    pub async fn next<M, E: Display>(
        &mut self,
        decode: impl Fn(&mut BytesMut) -> Result<Option<M>, E>,
        mut on_error: impl FnMut(E),
    ) -> Result<M, LinkError> {
        loop {
            while !self.echo_pending() {
                match decode(&mut self.buf) {
                    Ok(Some(m)) => return Ok(m),
                    Ok(None) => break,
                    Err(e) => on_error(e),
                }
            }
            self.fill().await?;
        }
    }

    /// Drops our own request if it comes back first; true while the buffer is
    /// still a prefix of it (wait for more before decoding).
    fn echo_pending(&mut self) -> bool {
        let Some(echo) = &self.echo else { return false };
        if self.buf.starts_with(echo) {
            let _ = self.buf.split_to(echo.len());
            self.echo = None;
            false
        } else if !self.buf.is_empty() && echo.starts_with(&self.buf) {
            true
        } else {
            if !self.buf.is_empty() {
                self.echo = None;
            }
            false
        }
    }

    /// How long since any byte arrived (since the stream opened if none has).
    pub fn quiet_for(&self) -> Duration {
        self.last_rx.elapsed()
    }

    /// Bytes waiting in the buffer (a partial frame, or stale replies).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Unsticks a decoder waiting on a false or truncated frame whose length
    /// asks for bytes that will never come: drops one byte (see
    /// [`crate::protocol::skip_stalled`]). Call when a read timed out with bytes buffered.
    pub fn skip_stalled(&mut self) -> bool {
        crate::protocol::skip_stalled(&mut self.buf)
    }

    /// Drops whatever is buffered: before a new request on a half-duplex link,
    /// anything still there is a stale or truncated reply. Returns how much.
    pub fn discard(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        n
    }
}
