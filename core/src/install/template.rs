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
        return crate::safefs::read_file_bounded(std::path::Path::new(&t.file)).map_err(|e| {
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

/// Replaces every placeholder with its secret's value, in one pass over the template's
/// own text: a value is never searched for placeholders itself, so a secret whose value
/// is another secret's placeholder cannot pull that secret into a template (sops-nix
/// replaces placeholder after placeholder over the growing text, in map order). Where
/// two secrets have the same placeholder the later one's value is used, as in sops-nix
/// (a map from placeholder to secret, filled in manifest order). The output is one
/// buffer of exactly its final size, wiped when dropped.
pub fn render(text: &[u8], substitutions: &[(&str, &[u8])]) -> Zeroizing<Vec<u8>> {
    let mut latest: Vec<(&str, &[u8])> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for &(placeholder, value) in substitutions.iter().filter(|(p, _)| !p.is_empty()) {
        match index.get(placeholder) {
            Some(&i) => latest[i] = (placeholder, value),
            None => {
                index.insert(placeholder, latest.len());
                latest.push((placeholder, value));
            }
        }
    }
    let finder = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(latest.iter().map(|(placeholder, _)| placeholder));
    let Ok(finder) = finder else {
        // Only past aho-corasick's size limits, far beyond any manifest.
        return Zeroizing::new(text.to_vec());
    };
    let value_of = |m: &aho_corasick::Match| latest[m.pattern().as_usize()].1;
    let len = finder
        .find_iter(text)
        .fold(text.len(), |len, m| len - m.len() + value_of(&m).len());
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut from = 0;
    for m in finder.find_iter(text) {
        out.extend_from_slice(&text[from..m.start()]);
        out.extend_from_slice(value_of(&m));
        from = m.end();
    }
    out.extend_from_slice(&text[from..]);
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
    fn a_value_is_never_searched_for_placeholders() {
        // A secret whose value is the database password's placeholder stays that text.
        let out = render(
            b"token=<T>\n",
            &[("<T>", b"<DB>"), ("<DB>", b"SUPERSECRET-DB")],
        );
        assert_eq!(&out[..], b"token=<DB>\n");
        let out = render(b"<DB> <T>", &[("<DB>", b"<T>"), ("<T>", b"t")]);
        assert_eq!(&out[..], b"<T> t");
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
