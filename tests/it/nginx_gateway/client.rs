//! A tiny HTTP/1.1 client for the browser's side: raw request bytes, so a test controls every
//! header nginx sees, and the whole response read to the end (chunked bodies decoded).

use super::*;

#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The raw bytes of a request with `Connection: close`; `Host: localhost` unless `headers` sets one.
pub(super) fn request_bytes(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str("Host: localhost\r\n");
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Parse a whole response (read to EOF), decoding a chunked body.
pub(super) fn parse_response(raw: &[u8]) -> Response {
    let split = find(raw, b"\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "response without end of headers: {:?}",
            String::from_utf8_lossy(raw)
        )
    });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(length) = response.header("content-length") {
        assert_eq!(
            length.parse::<usize>().ok(),
            Some(response.body.len()),
            "body length differs from Content-Length in {response:?}"
        );
    }
    response
}

pub(super) fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").expect("truncated chunked body");
        let size_field = String::from_utf8_lossy(&rest[..line_end]);
        let size_hex = size_field.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_field:?}"));
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        assert!(rest.len() >= size + 2, "truncated chunk");
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Send one request to 127.0.0.1:`port` and read the whole response.
pub(super) fn try_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(&request_bytes(method, target, headers, body))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

pub(super) fn get(port: u16, target: &str) -> Response {
    try_request(port, "GET", target, &[], &[])
        .unwrap_or_else(|e| panic!("GET {target} through nginx: {e}"))
}
