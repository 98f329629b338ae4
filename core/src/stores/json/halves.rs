//! Parsing a large JSON document on two threads (see [`crate::split`]).
//!
//! A raw newline never occurs inside a JSON token, so a line of a pretty-printed document
//! that starts with the first top-level key's indentation and a `"`, after a line ending
//! in `,`, is most likely where a top-level key starts. One such line near the middle is
//! the cut: this thread parses the document up to it (stopping only if it really meets a
//! top-level key there) while a second thread parses the top-level entries from it to the
//! end. When the guess was wrong the first parser simply goes on to the end, and the
//! second one's work is dropped: the result, and which error is reported, are always
//! those of one parser reading the whole document.

use std::sync::atomic::{AtomicBool, Ordering};

use super::parse::{Numbers, Parser};
use crate::tree::{Branch, WipedOnDrop};

/// A document's top-level entries in two parts, in order (the second often empty).
pub(crate) type Halves = (Branch, Branch);

/// [`Parser::document`] of `input` (an encrypted document, or a plaintext one when
/// `plain`), on two threads when it is large.
pub(crate) fn parse_document(
    input: &[u8],
    plain: bool,
    sops_numbers: Numbers,
) -> Result<Halves, String> {
    let parser = || match plain {
        true => Parser::new_plain(input),
        false => Parser::new(input),
    };
    let Some(cut) = likely_cut(input) else {
        return Ok((parser().document(sops_numbers)?, Vec::new()));
    };
    // Set when the first half went past the cut or failed before it: then the second
    // half is not needed, and is skipped when it runs after the first (under `ulimit -v`).
    let first_decided = AtomicBool::new(false);
    let (first, rest) = crate::stack::join_deep(
        || {
            let mut first = parser().stop_at(cut);
            let parsed = first.document(sops_numbers);
            let stopped = first.stopped_at_cut() && parsed.is_ok();
            first_decided.store(!stopped, Ordering::Relaxed);
            (parsed, stopped)
        },
        || {
            (!first_decided.load(Ordering::Relaxed))
                .then(|| parser().entries_from(cut, sops_numbers))
        },
    );
    // A part that is not returned may hold plaintext: wiped when dropped.
    let wiped = |branch: Branch| WipedOnDrop(vec![branch]);
    let kept = |part: WipedOnDrop| part.take().pop().unwrap_or_default();
    let ((first, stopped), rest) = (first, rest.map(|rest| rest.map(wiped)));
    match (first.map(wiped), stopped, rest) {
        (Err(e), _, _) => Err(e),
        (Ok(whole), false, _) => Ok((kept(whole), Vec::new())),
        (Ok(first), true, Some(rest)) => {
            let rest = rest?;
            Ok((kept(first), kept(rest)))
        }
        // The second half always runs when the first stops at the cut.
        (Ok(_), true, None) => Ok((parser().document(sops_numbers)?, Vec::new())),
    }
}

/// Where a top-level key likely starts near the middle of a large pretty-printed
/// document; None for a small or single-line one, or with a single CPU.
fn likely_cut(input: &[u8]) -> Option<usize> {
    if input.len() < crate::split::PARALLEL_TEXT_BYTES || !crate::split::two_cpus() {
        return None;
    }
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let open = input.iter().position(|c| !is_space(c))?;
    if input[open] != b'{' {
        return None;
    }
    let first_key = open + 1 + input[open + 1..].iter().position(|c| !is_space(c))?;
    let before_first_key = &input[open + 1..first_key];
    let indent = &before_first_key[memchr::memrchr(b'\n', before_first_key)? + 1..];
    let middle = input.len() / 2;
    memchr::memchr_iter(b'\n', &input[middle..])
        .map(|newline| middle + newline)
        .filter(|&newline| {
            // Cheap tests first: the look back for the comma runs only from a line that
            // starts like a key, and so never crosses another such line (linear in all).
            let key = newline + 1 + indent.len();
            input[newline + 1..].starts_with(indent) && input.get(key) == Some(&b'"')
        })
        .find(|&newline| input[..newline].iter().rev().find(|c| !is_space(c)) == Some(&b','))
        .map(|newline| newline + 1 + indent.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document parsed by one parser, whole.
    fn whole(input: &[u8]) -> Result<Branch, String> {
        Parser::new(input).document(Numbers::IntWhenIntegral)
    }

    /// The document parsed in two parts cut at `cut`, joined.
    fn in_halves_at(input: &[u8], cut: usize) -> Result<Branch, String> {
        let mut first = Parser::new(input).stop_at(cut);
        let parsed = first.document(Numbers::IntWhenIntegral)?;
        if !first.stopped_at_cut() {
            return Ok(parsed);
        }
        let rest = Parser::new(input).entries_from(cut, Numbers::IntWhenIntegral)?;
        Ok(parsed.into_iter().chain(rest).collect())
    }

    #[test]
    fn a_document_cut_anywhere_parses_as_it_does_whole() {
        let docs: &[&str] = &[
            "{\n  \"a\": 1,\n  \"b\": [1, {\"c\": \"\\n\"}],\n  \"sops\": {\"version\": 3},\n  \"d\": null\n}\n",
            "{\"a\": {\"b\": {\"c\": 1}}, \"d\": \"x\"}",
            "{\n\t\"a\": \"b\",\n\t\"a\": \"c\"\n}",
            // Errors on either side of every cut, each reported as the whole parse does.
            "{\n  \"a\": 1,\n  \"b\": tru,\n  \"c\": 2\n}",
            "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 2,\n}",
            "{\n  \"a\": 1,\n  \"b\": 2\n} x",
            "{\n  \"a\": 1,\n  \"b\": {\n  \"c\": 2,\n  \"d\": 3\n  }\n}",
            "{\n  \"a\": 1,\n  \"b\": 2",
        ];
        for doc in docs {
            let expected = whole(doc.as_bytes());
            for cut in 0..=doc.len() {
                assert_eq!(
                    in_halves_at(doc.as_bytes(), cut),
                    expected,
                    "{doc:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn random_documents_and_their_corruptions_parse_alike_at_every_cut() {
        let mut seed = 0x2545_F491_4F6C_DD1D;
        let mut errors = 0;
        for round in 0..120 {
            let doc = crate::test_docs::document(&mut seed, 2 + round % 5, false);
            let indent = ["\t", "  "][round % 2];
            let Ok(text) = super::super::write_whole(&doc, None, indent, 0) else {
                continue;
            };
            let mut text = text.into_bytes();
            if round % 3 == 0 {
                // One byte replaced by a structural character somewhere.
                let at = crate::test_rng::next(&mut seed) as usize % text.len();
                text[at] = b",:{}[]\"x1 \n"[at % 11];
            }
            let expected = whole(&text);
            errors += usize::from(expected.is_err());
            for cut in 0..=text.len() {
                assert_eq!(in_halves_at(&text, cut), expected, "cut at {cut}");
            }
        }
        assert!(
            errors > 10,
            "only {errors} corrupted documents failed to parse"
        );
    }

    #[test]
    fn the_likely_cut_of_a_pretty_printed_document_is_a_top_level_key() {
        let mut doc = String::from("{\n    \"sops\": {\"version\": \"3.11.0\"}");
        for i in 0..20_000 {
            doc.push_str(&format!(
                ",\n    \"key{i}\": {{\n        \"inner\": [\n            \"value, {i}\"\n        ]\n    }}"
            ));
        }
        doc.push_str("\n}\n");
        let cut = likely_cut(doc.as_bytes());
        if crate::split::two_cpus() {
            let cut = cut.expect("a cut");
            assert!(doc[cut..].starts_with("\"key"), "{}", &doc[cut..cut + 20]);
            assert!(cut.abs_diff(doc.len() / 2) < 200);
            let (first, rest) =
                parse_document(doc.as_bytes(), false, Numbers::IntWhenIntegral).expect("parses");
            assert!(!first.is_empty() && !rest.is_empty());
            let joined: Branch = first.into_iter().chain(rest).collect();
            assert_eq!(Ok(joined), whole(doc.as_bytes()));
        }
        // One line: nowhere to cut.
        assert_eq!(likely_cut(doc.replace('\n', "").as_bytes()), None);
    }

    #[test]
    fn blank_lines_are_passed_over_in_linear_time() {
        // Each blank line used to look back over all the blank lines before it: a file of
        // a million newlines took minutes. Now it is one pass.
        for doc in [
            format!("{{\n  \"a\": 1}}{}", "\n".repeat(1_000_000)),
            format!("{{\n  \"a\": 1,{}  \"b\": 2}}", "\n".repeat(1_000_000)),
            format!("{{\n  \"a\": 1,{}\n  \"b\": 2}}", "\n \t".repeat(400_000)),
        ] {
            let expected = whole(doc.as_bytes());
            let (first, rest) =
                parse_document(doc.as_bytes(), false, Numbers::IntWhenIntegral).expect("parses");
            assert_eq!(Ok(first.into_iter().chain(rest).collect()), expected);
        }
    }
}
