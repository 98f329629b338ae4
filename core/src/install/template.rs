//! Templates: text with placeholders (`<SOPS:sha256(name):PLACEHOLDER>`) replaced by the
//! secrets' values, rendered into `<generation>/rendered/<name>`.

use zeroize::Zeroizing;

use super::manifest::Template;
use super::InstallError;

/// The sub-directory of a generation holding rendered templates.
pub const RENDERED_SUBDIR: &str = "rendered";

/// The template's text: `content`, or else the bytes of `file` (as they are: sops-nix
/// renders any bytes, UTF-8 or not).
pub fn text_of(t: &Template) -> Result<Vec<u8>, InstallError> {
    if !t.content.is_empty() {
        return Ok(t.content.clone().into_bytes());
    }
    if !t.file.is_empty() {
        return std::fs::read(&t.file).map_err(|e| {
            InstallError::new(format!(
                "cannot read {0}: open {0}: {1}",
                t.file,
                crate::goerr::io_reason(&e)
            ))
        });
    }
    Err(InstallError::new(format!(
        "neither content nor file was specified for template {}",
        t.name
    )))
}

/// Replaces every placeholder with its secret's value. Where two secrets have the same
/// placeholder the later one's value is used, as in sops-nix (a map from placeholder to
/// secret, filled in manifest order). Each intermediate text (secret values in it) is
/// wiped when the next replaces it.
pub fn render(text: &[u8], substitutions: &[(&str, &[u8])]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(text.to_vec());
    let mut later = std::collections::HashSet::new();
    let last_of_each: Vec<bool> = substitutions
        .iter()
        .rev()
        .map(|(placeholder, _)| later.insert(*placeholder))
        .collect();
    for ((placeholder, value), last) in substitutions.iter().zip(last_of_each.iter().rev()) {
        if placeholder.is_empty() || !last {
            continue;
        }
        out = replace_all(&out, placeholder.as_bytes(), value);
    }
    out
}

/// `haystack` with every `needle` (left to right, not overlapping) replaced by `with`, in
/// a buffer of exactly its final size (no reallocation leaves a copy behind).
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Zeroizing<Vec<u8>> {
    let finder = memchr::memmem::Finder::new(needle);
    let count = finder.find_iter(haystack).count();
    let len = haystack.len() - count * needle.len() + count * with.len();
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut from = 0;
    for at in finder.find_iter(haystack) {
        out.extend_from_slice(&haystack[from..at]);
        out.extend_from_slice(with);
        from = at + needle.len();
    }
    out.extend_from_slice(&haystack[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_everywhere() {
        let out = render(
            b"a=<P1> b=<P2> again <P1>\n",
            &[("<P1>", b"one"), ("<P2>", b"two")],
        );
        assert_eq!(&out[..], b"a=one b=two again one\n");
    }

    #[test]
    fn a_placeholder_given_twice_takes_the_later_value() {
        let out = render(
            b"<P> <Q>",
            &[("<P>", b"first"), ("<Q>", b"q"), ("<P>", b"second")],
        );
        assert_eq!(&out[..], b"second q");
    }

    #[test]
    fn any_bytes_render_and_placeholders_do_not_overlap() {
        let out = render(b"\xff<P><P>P>\xfe", &[("<P>", b"v")]);
        assert_eq!(&out[..], b"\xffvvP>\xfe");
        let out = render(b"aaaa", &[("aa", b"b")]);
        assert_eq!(&out[..], b"bb");
    }

    #[test]
    fn content_wins_over_file_and_neither_is_an_error() {
        let t = Template {
            name: "t".into(),
            content: "x".into(),
            file: "/nonexistent".into(),
            ..Default::default()
        };
        assert_eq!(text_of(&t).unwrap(), b"x");
        let t = Template {
            name: "t".into(),
            ..Default::default()
        };
        assert!(text_of(&t)
            .unwrap_err()
            .to_string()
            .contains("neither content nor file"));
    }
}
