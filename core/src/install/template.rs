//! Templates: text with placeholders (`<SOPS:sha256(name):PLACEHOLDER>`) replaced by the
//! secrets' values, rendered into `<generation>/rendered/<name>`.

use zeroize::Zeroizing;

use super::manifest::Template;
use super::InstallError;

/// The sub-directory of a generation holding rendered templates.
pub const RENDERED_SUBDIR: &str = "rendered";

/// The template's text: `content`, or else the contents of `file`.
pub fn text_of(t: &Template) -> Result<String, InstallError> {
    if !t.content.is_empty() {
        return Ok(t.content.clone());
    }
    if !t.file.is_empty() {
        return std::fs::read(&t.file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| {
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

/// Replaces every placeholder with its secret's value.
pub fn render(text: &str, substitutions: &[(&str, &[u8])]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(text.as_bytes().to_vec());
    for (placeholder, value) in substitutions {
        if placeholder.is_empty() {
            continue;
        }
        *out = replace_all(&out, placeholder.as_bytes(), value);
    }
    out
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_everywhere() {
        let out = render(
            "a=<P1> b=<P2> again <P1>\n",
            &[("<P1>", b"one"), ("<P2>", b"two")],
        );
        assert_eq!(&out[..], b"a=one b=two again one\n");
    }

    #[test]
    fn content_wins_over_file_and_neither_is_an_error() {
        let t = Template {
            name: "t".into(),
            content: "x".into(),
            file: "/nonexistent".into(),
            ..Default::default()
        };
        assert_eq!(text_of(&t).unwrap(), "x");
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
