//! Word wrapping exactly as Go's `mitchellh/go-wordwrap` (sops wraps its key-group error
//! report with it), so multi-line errors match sops line for line.

/// Wraps `s` at `limit` columns: breaks only at whitespace (not NBSP), never splits a word
/// longer than the limit, drops the spaces at a break, keeps existing newlines.
pub fn wrap(s: &str, limit: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut current = 0usize;
    let (mut word, mut space) = (String::new(), String::new());
    let (mut word_len, mut space_len) = (0usize, 0usize);
    for c in s.chars() {
        if c == '\n' {
            end_line(&mut out, current + space_len <= limit, &space, &word);
            word.clear();
            word_len = 0;
            space.clear();
            space_len = 0;
            out.push('\n');
            current = 0;
        } else if c.is_whitespace() && c != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space_len + word_len;
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                word.clear();
                space_len = 0;
                word_len = 0;
            }
            space.push(c);
            space_len += 1;
        } else {
            word.push(c);
            word_len += 1;
            if current + space_len + word_len > limit && word_len < limit {
                out.push('\n');
                current = 0;
                space.clear();
                space_len = 0;
            }
        }
    }
    end_line(&mut out, current + space_len <= limit, &space, &word);
    out
}

/// Writes what is pending at a newline or the end of the text: a word with the spaces
/// before it, or trailing spaces alone only when they fit.
fn end_line(out: &mut String, spaces_fit: bool, space: &str, word: &str) {
    if !word.is_empty() || spaces_fit {
        out.push_str(space);
    }
    out.push_str(word);
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_like_go_wordwrap() {
        assert_eq!(wrap("aaa bbb ccc", 7), "aaa bbb\nccc");
        assert_eq!(
            wrap("a verylongwordthatdoesnotfit b", 5),
            "a\nverylongwordthatdoesnotfit\nb"
        );
        assert_eq!(wrap("keep\nnewlines here", 20), "keep\nnewlines here");
        assert_eq!(
            wrap("Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.", 75),
            "Recovery failed because no master key was able to decrypt the file. In\norder for SOPS to recover the file, at least one key has to be successful,\nbut none were."
        );
    }
}
