//! SPDY/3.1 framing, as much of it as a port-forward server needs: what `kubectl port-forward`
//! speaks to the API server (inside a WebSocket, or over a plain `Upgrade: SPDY/3.1`).
//!
//! Frames as moby/spdystream v0.5.0 `spdy/read.go` and `spdy/write.go` read and write them (the
//! version k8s.io/apimachinery v0.32.4 pins in go.mod):
//! - a control frame is `1 | version(15) = 3 | type(16)`, `flags(8) | length(24)`, then `length`
//!   bytes; a data frame is `0 | stream id(31)`, `flags(8) | length(24)`, then the bytes;
//! - SYN_STREAM (1) carries stream id, associated id, priority<<13 and slot, then a header
//!   block; SYN_REPLY (2) and HEADERS (8) a stream id then a header block; RST_STREAM (3) a stream
//!   id and a non-zero status; PING (6) an id; GOAWAY (7) last stream id and status;
//! - a header block is `u32 count` then per header `u32 len, name, u32 len, value` (several values
//!   joined by NUL), compressed with zlib at the best level and a preset dictionary; each direction
//!   keeps one zlib stream for the whole connection and ends every block with a sync flush.
//!
//! The dictionary is SPDY/3's (draft-mbelshe-httpbis-spdy-00 §2.6.10.1; spdystream
//! `spdy/dictionary.go`): 65 length-prefixed header words then a run of status lines, dates and
//! media types, 1423 bytes whose Adler-32, the id zlib writes in its header, is 0xe3c6a7c2.

use std::sync::OnceLock;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_SYN_REPLY: u16 = 2;
pub const TYPE_RST_STREAM: u16 = 3;
pub const TYPE_PING: u16 = 6;
pub const TYPE_GOAWAY: u16 = 7;
pub const TYPE_HEADERS: u16 = 8;
pub const FLAG_FIN: u8 = 0x01;
/// RST_STREAM statuses (spdystream `spdy/types.go`: `ProtocolError = iota + 1`, ...).
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;
/// The largest payload one frame can carry (spdystream `MaxDataLength = 1<<24 - 1`).
pub const MAX_DATA_LENGTH: usize = (1 << 24) - 1;
/// Header bytes of a data frame, before its payload.
pub const DATA_HEADER_LEN: usize = 8;
/// The Adler-32 of [`dictionary`]: the dictionary id a SPDY/3 zlib stream announces.
pub const DICTIONARY_ID: u32 = 0xe3c6_a7c2;

const DICTIONARY_WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service Unavailable",
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
    "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// SPDY/3's zlib dictionary for header blocks.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        let mut d = Vec::with_capacity(1423);
        for w in DICTIONARY_WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
        d
    })
}

/// Header names and values, in the order they came (names are lowercase on the wire).
pub type Headers = Vec<(String, String)>;

/// One frame read from the peer.
#[derive(Debug)]
pub enum Frame {
    SynStream {
        id: u32,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        id: u32,
    },
    RstStream {
        id: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    Headers {
        id: u32,
        flags: u8,
    },
    Data {
        id: u32,
        flags: u8,
        data: Bytes,
    },
    /// SETTINGS, WINDOW_UPDATE and types this server has no use for (spdystream ignores
    /// WINDOW_UPDATE and SETTINGS too: it does no flow control).
    Other,
}

/// A malformed frame: the connection cannot go on.
#[derive(Debug)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads frames from a byte stream and writes control frames, each direction with its own zlib
/// stream for header blocks.
pub struct Codec {
    inflate: Decompress,
    deflate: Compress,
    deflate_started: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    pub fn new() -> Self {
        Codec {
            inflate: Decompress::new(true),
            // spdystream: zlib.NewWriterLevelDict(buf, zlib.BestCompression, headerDictionary)
            deflate: Compress::new(Compression::best(), true),
            deflate_started: false,
        }
    }

    /// Takes one whole frame off the front of `buf`, or returns `None` until one is there.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        buf.advance(8);
        let mut body = buf.split_to(len);
        if first & 0x8000_0000 == 0 {
            let id = first & 0x7fff_ffff;
            if id == 0 {
                return Err(FrameError("stream id zero is disallowed".into()));
            }
            return Ok(Some(Frame::Data {
                id,
                flags,
                data: body.freeze(),
            }));
        }
        let version = (first >> 16) & 0x7fff;
        if version != 3 {
            return Err(FrameError(format!("unsupported SPDY version {version}")));
        }
        let ty = (first & 0xffff) as u16;
        let need = |n: usize| {
            if len < n {
                Err(FrameError(format!("control frame type {ty} too short")))
            } else {
                Ok(())
            }
        };
        let frame = match ty {
            TYPE_SYN_STREAM => {
                need(10)?;
                let id = body.get_u32() & 0x7fff_ffff;
                body.advance(6); // associated stream id, priority and slot
                let headers = self.headers(&body)?;
                Frame::SynStream { id, flags, headers }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(4)?;
                let id = body.get_u32() & 0x7fff_ffff;
                // Inflate even if unused: the zlib stream spans every block.
                self.headers(&body)?;
                if ty == TYPE_SYN_REPLY {
                    Frame::SynReply { id }
                } else {
                    Frame::Headers { id, flags }
                }
            }
            TYPE_RST_STREAM => {
                need(8)?;
                let id = body.get_u32() & 0x7fff_ffff;
                let status = body.get_u32();
                Frame::RstStream { id, status }
            }
            TYPE_PING => {
                need(4)?;
                Frame::Ping { id: body.get_u32() }
            }
            TYPE_GOAWAY => Frame::GoAway,
            _ => Frame::Other,
        };
        Ok(Some(frame))
    }

    fn headers(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let raw = self.inflate_block(block)?;
        parse_header_block(&raw)
    }

    fn inflate_block(&mut self, mut input: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        while !input.is_empty() {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(256));
            }
            let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
            let r = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.inflate.total_in() - before_in) as usize..];
            match r {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    let stuck = self.inflate.total_in() == before_in
                        && self.inflate.total_out() == before_out
                        && out.len() < out.capacity();
                    if stuck {
                        return Err(FrameError("header block does not inflate".into()));
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(id) if id == DICTIONARY_ID => {
                        self.inflate
                            .set_dictionary(dictionary())
                            .map_err(|e| FrameError(format!("header dictionary: {e}")))?;
                    }
                    Some(id) => {
                        return Err(FrameError(format!(
                            "header block wants zlib dictionary {id:#x}, not SPDY/3's"
                        )));
                    }
                    None => return Err(FrameError(format!("header block: {e}"))),
                },
            }
        }
        Ok(out)
    }

    fn deflate_block(&mut self, raw: &[u8]) -> Vec<u8> {
        if !self.deflate_started {
            self.deflate_started = true;
            // On a fresh stream this puts the dictionary id in the zlib header (FDICT).
            let _ = self.deflate.set_dictionary(dictionary());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = raw;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.deflate.total_in();
            let _ = self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflate.total_in() - before) as usize..];
            // A sync flush is complete once input is used up and output did not fill the room.
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    fn control(&mut self, out: &mut BytesMut, ty: u16, flags: u8, body: &[u8]) {
        out.put_u32(0x8000_0000 | (3 << 16) | ty as u32);
        out.put_u32(((flags as u32) << 24) | body.len() as u32);
        out.put_slice(body);
    }

    /// SYN_REPLY with the given headers: how a server accepts a stream (spdystream
    /// `Stream.SendReply`; apimachinery `connection.newSpdyStream` sends it with no headers).
    pub fn syn_reply(&mut self, out: &mut BytesMut, id: u32, headers: &[(&str, &str)]) {
        let block = self.deflate_block(&header_block(headers));
        let mut body = Vec::with_capacity(4 + block.len());
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&block);
        self.control(out, TYPE_SYN_REPLY, 0, &body);
    }

    pub fn rst_stream(&mut self, out: &mut BytesMut, id: u32, status: u32) {
        let mut body = [0u8; 8];
        body[..4].copy_from_slice(&id.to_be_bytes());
        body[4..].copy_from_slice(&status.to_be_bytes());
        self.control(out, TYPE_RST_STREAM, 0, &body);
    }

    pub fn ping(&mut self, out: &mut BytesMut, id: u32) {
        self.control(out, TYPE_PING, 0, &id.to_be_bytes());
    }

    pub fn goaway(&mut self, out: &mut BytesMut, last_stream: u32) {
        let mut body = [0u8; 8];
        body[..4].copy_from_slice(&last_stream.to_be_bytes());
        self.control(out, TYPE_GOAWAY, 0, &body);
    }

    /// SYN_STREAM, as a client opens a stream: for tests that play kubectl's part.
    pub fn syn_stream(&mut self, out: &mut BytesMut, id: u32, flags: u8, headers: &[(&str, &str)]) {
        let block = self.deflate_block(&header_block(headers));
        let mut body = Vec::with_capacity(10 + block.len());
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&[0u8; 6]);
        body.extend_from_slice(&block);
        self.control(out, TYPE_SYN_STREAM, flags, &body);
    }
}

/// Writes a data frame header in front of `len` payload bytes.
pub fn data_header(out: &mut [u8], id: u32, flags: u8, len: usize) {
    out[..4].copy_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    out[4..8].copy_from_slice(&(((flags as u32) << 24) | len as u32).to_be_bytes());
}

/// A whole data frame.
pub fn data_frame(id: u32, flags: u8, data: &[u8]) -> Bytes {
    let mut f = vec![0u8; DATA_HEADER_LEN + data.len()];
    data_header(&mut f, id, flags, data.len());
    f[DATA_HEADER_LEN..].copy_from_slice(data);
    Bytes::from(f)
}

fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        b.extend_from_slice(&(k.len() as u32).to_be_bytes());
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

fn parse_header_block(mut b: &[u8]) -> Result<Headers, FrameError> {
    let short = || FrameError("header block cut short".into());
    let take = |b: &mut &[u8]| -> Result<String, FrameError> {
        if b.len() < 4 {
            return Err(short());
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() < 4 + n {
            return Err(short());
        }
        let s = String::from_utf8_lossy(&b[4..4 + n]).into_owned();
        *b = &b[4 + n..];
        Ok(s)
    };
    if b.len() < 4 {
        return Err(short());
    }
    let count = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    b = &b[4..];
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = take(&mut b)?.to_ascii_lowercase();
        let value = take(&mut b)?;
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_string()));
        }
    }
    Ok(headers)
}

/// The first value of header `name` (lowercase).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        let mut c = Compress::new(Compression::best(), true);
        assert_eq!(c.set_dictionary(d).expect("dictionary"), DICTIONARY_ID);
    }

    #[test]
    fn header_blocks_round_trip_across_one_zlib_stream() {
        let mut client = Codec::new();
        let mut server = Codec::new();
        let mut wire = BytesMut::new();
        let h1 = [("streamType", "error"), ("port", "80"), ("requestID", "0")];
        let h2 = [("streamType", "data"), ("port", "80"), ("requestID", "0")];
        client.syn_stream(&mut wire, 1, 0, &h1);
        client.syn_stream(&mut wire, 3, FLAG_FIN, &h2);
        wire.extend_from_slice(&data_frame(3, FLAG_FIN, b"GET / HTTP/1.1\r\n\r\n"));
        // Frames may arrive a few bytes at a time (kubectl writes each field on its own).
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in wire.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(f) = server.parse(&mut buf).expect("frame") {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 3, "{frames:?}");
        match &frames[0] {
            Frame::SynStream { id: 1, headers, .. } => {
                assert_eq!(header(headers, "streamtype"), Some("error"));
                assert_eq!(header(headers, "port"), Some("80"));
                assert_eq!(header(headers, "requestid"), Some("0"));
            }
            f => panic!("{f:?}"),
        }
        match &frames[1] {
            Frame::SynStream {
                id: 3,
                flags,
                headers,
            } => {
                assert_eq!(*flags, FLAG_FIN);
                assert_eq!(header(headers, "streamtype"), Some("data"));
            }
            f => panic!("{f:?}"),
        }
        match &frames[2] {
            Frame::Data { id: 3, flags, data } => {
                assert_eq!(*flags, FLAG_FIN);
                assert_eq!(&data[..], b"GET / HTTP/1.1\r\n\r\n");
            }
            f => panic!("{f:?}"),
        }
        // And the server's replies inflate on the client's side.
        let mut back = BytesMut::new();
        server.syn_reply(&mut back, 1, &[]);
        server.syn_reply(&mut back, 3, &[]);
        server.rst_stream(&mut back, 3, RST_CANCEL);
        let mut got = Vec::new();
        while let Some(f) = client.parse(&mut back).expect("reply") {
            got.push(f);
        }
        assert!(matches!(got[0], Frame::SynReply { id: 1 }), "{got:?}");
        assert!(matches!(got[1], Frame::SynReply { id: 3 }), "{got:?}");
        assert!(
            matches!(
                got[2],
                Frame::RstStream {
                    id: 3,
                    status: RST_CANCEL
                }
            ),
            "{got:?}"
        );
    }

    #[test]
    fn a_foreign_dictionary_or_version_is_refused() {
        let mut buf = BytesMut::new();
        buf.put_u32(0x8000_0000 | (2 << 16) | TYPE_PING as u32);
        buf.put_u32(4);
        buf.put_u32(1);
        let e = Codec::new().parse(&mut buf).expect_err("SPDY/2");
        assert!(e.0.contains("version 2"), "{e}");
    }
}
