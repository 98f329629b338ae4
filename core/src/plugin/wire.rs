//! Reading stanzas from a plugin's output, one line at a time and within bounds, so a
//! plugin that writes an endless line, a huge stanza or garbage costs a bounded amount of
//! memory and time (age-plugin.md: a stanza is `-> tag args...` followed by its body in
//! base64 lines of 64 characters, the last one shorter).
//!
//! Hand-written rather than age-core's parser because that one re-parses its whole buffer
//! each time a line arrives, which is quadratic in the size of a stanza.

use std::io::BufRead;

use age_core::format::Stanza;
use base64::Engine;
use zeroize::Zeroizing;

/// Longest header line (`-> tag args...`) accepted. Recipients and identities are well
/// under a kilobyte; this leaves room for long plugin-defined arguments.
pub const MAX_HEADER_LINE: usize = 64 * 1024;

/// Most base64 text one stanza body may have (3 MiB decoded). Plugins send file keys,
/// short messages and wrapped keys.
pub const MAX_BODY: usize = 4 << 20;

/// Base64 characters per full body line.
const BODY_LINE: usize = 64;

/// Why no stanza could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum WireError {
    /// The output ended cleanly between stanzas.
    End,
    /// The output is not the protocol (or ended inside a stanza).
    Malformed(String),
    /// A line or body is larger than the protocol needs.
    TooLarge(String),
}

/// Reads stanzas from `inner` (a plugin's stdout).
pub struct StanzaReader<R> {
    inner: R,
}

impl<R: BufRead> StanzaReader<R> {
    /// A reader over a plugin's output.
    pub fn new(inner: R) -> Self {
        StanzaReader { inner }
    }

    /// Reads one line (without its `\n`) of at most `limit` bytes; `None` at a clean end.
    fn line(&mut self, limit: usize, what: &str) -> Result<Option<Zeroizing<Vec<u8>>>, WireError> {
        let mut line = Zeroizing::new(Vec::new());
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WireError::Malformed(format!("read failed: {e}"))),
            };
            if buf.is_empty() {
                return if line.is_empty() {
                    Ok(None)
                } else {
                    Err(WireError::Malformed(format!(
                        "output ended inside a {what}"
                    )))
                };
            }
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if line.len() + chunk.len() > limit {
                return Err(WireError::TooLarge(format!(
                    "sent a {what} longer than {limit} bytes"
                )));
            }
            line.extend_from_slice(chunk);
            let used = done.unwrap_or(buf.len());
            self.inner.consume(used);
            if done.is_some() {
                return Ok(Some(line));
            }
        }
    }

    /// Reads the next stanza.
    pub fn read_stanza(&mut self) -> Result<Stanza, WireError> {
        let header = self
            .line(MAX_HEADER_LINE, "stanza header")?
            .ok_or(WireError::End)?;
        let Some(rest) = header.strip_prefix(b"-> ") else {
            return Err(WireError::Malformed(
                "sent data that is not the age plugin protocol".into(),
            ));
        };
        let mut args = Vec::new();
        for arg in rest.split(|b| *b == b' ') {
            // Arguments are non-empty runs of visible ASCII (age's VCHAR).
            if arg.is_empty() || !arg.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(WireError::Malformed(
                    "sent a stanza header that is not the age plugin protocol".into(),
                ));
            }
            args.push(String::from_utf8_lossy(arg).into_owned());
        }
        let tag = args.remove(0);
        let mut text = Zeroizing::new(Vec::new());
        loop {
            let line = self
                .line(BODY_LINE, "stanza body line")?
                .ok_or_else(|| WireError::Malformed("output ended inside a stanza".into()))?;
            if text.len() + line.len() > MAX_BODY {
                return Err(WireError::TooLarge(format!(
                    "sent a stanza body larger than {MAX_BODY} bytes"
                )));
            }
            text.extend_from_slice(&line);
            if line.len() < BODY_LINE {
                break;
            }
        }
        let body = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&text[..])
            .map_err(|_| WireError::Malformed("sent a stanza body that is not base64".into()))?;
        Ok(Stanza { tag, args, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Result<Stanza, WireError> {
        StanzaReader::new(input).read_stanza()
    }

    #[test]
    fn reads_stanzas_with_short_and_full_body_lines() {
        let s = read(b"-> msg a b\naGVsbG8\n").unwrap();
        assert_eq!(
            (s.tag.as_str(), s.args.len(), &s.body[..]),
            ("msg", 2, &b"hello"[..])
        );
        let body = vec![7u8; 48]; // exactly one 64-character line, then an empty one
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&body);
        let s = read(format!("-> x\n{b64}\n\n").as_bytes()).unwrap();
        assert_eq!(s.body, body);
        assert_eq!(read(b""), Err(WireError::End));
    }

    #[test]
    fn refuses_what_is_not_the_protocol() {
        for bad in [
            &b"hello\n"[..],
            b"->  x\n\n",
            b"-> x\n",
            b"-> x \n\n",
            b"-> x\n!!!!\n",
            b"-> x\x1b[2J\n\n",
        ] {
            assert!(
                matches!(read(bad), Err(WireError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_endless_line_is_cut_off_at_the_limit() {
        let endless = std::io::repeat(b'a').take(u64::MAX);
        use std::io::Read;
        let mut r = StanzaReader::new(std::io::BufReader::new(endless));
        assert!(matches!(r.read_stanza(), Err(WireError::TooLarge(_))));
    }

    #[test]
    fn a_megabyte_stanza_is_read() {
        let body = vec![1u8; 1 << 20];
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&body);
        let mut wire = b"-> msg\n".to_vec();
        for chunk in b64.as_bytes().chunks(64) {
            wire.extend_from_slice(chunk);
            wire.push(b'\n');
        }
        if b64.len() % 64 == 0 {
            wire.push(b'\n');
        }
        // (Re-parsing the buffer per line, as before, took about 40 s of CPU here.)
        assert_eq!(read(&wire).unwrap().body.len(), 1 << 20);
    }
}
