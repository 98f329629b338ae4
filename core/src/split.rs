//! Cutting one large document between two threads. Encrypting, decrypting and writing a
//! 10,000-value file is mostly per-value work that does not depend on the values before
//! it, and the machines keytap runs on have two cores or more: such work takes the
//! document's top-level items up to a cut on this thread and the rest on a second one
//! (`stack::join_deep`), then joins the two results as one pass in order would have made
//! them.

use zeroize::Zeroizing;

use crate::tree::{text_len_hint, Branch, Item, Value};

/// The least text (as [`text_len_hint`] counts it) worth a second thread: about 2,000
/// values. Starting the thread costs ~100 us; decrypting a value ~0.25 us.
pub(crate) const PARALLEL_TEXT_BYTES: usize = 256 << 10;

/// Whether this process may run on two CPUs at once. Asked once: the standard library
/// reads the cgroup's CPU quota from `/proc` and `/sys` on every call.
pub(crate) fn two_cpus() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// Where [`split_point`] cuts a document, with the text of each part as
/// [`text_len_hint`] counts it (which callers reserve, instead of counting again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    /// The index of the first item of the second part.
    pub at: usize,
    /// The text before the cut.
    pub first_len: usize,
    /// The text from the cut on.
    pub rest_len: usize,
}

impl Cut {
    /// The cut of `doc` before item `at`, wherever that is.
    #[cfg(test)]
    pub(crate) fn before(doc: &[Item], at: usize) -> Cut {
        Cut {
            at,
            first_len: text_len_hint(&doc[..at]),
            rest_len: text_len_hint(&doc[at..]),
        }
    }
}

/// [`split_point`] of a file's only document (None for several).
pub(crate) fn split_single(docs: &[Branch]) -> Option<usize> {
    match docs {
        [doc] => split_point(doc).map(|cut| cut.at),
        _ => None,
    }
}

/// Where to cut a document's top-level items between two threads: after an entry (a
/// comment stays with the item below it, whose encryption it may decide and whose head
/// comment it is) and before another, nearest half of the document's text. None where a second thread would
/// not pay: a document under [`PARALLEL_TEXT_BYTES`], one whose text is mostly under one
/// top-level key, or a single CPU.
pub(crate) fn split_point(doc: &[Item]) -> Option<Cut> {
    if doc.len() < 2 {
        return None;
    }
    let sizes: Vec<usize> = doc
        .iter()
        .map(|item| text_len_hint(std::slice::from_ref(item)))
        .collect();
    let total: usize = sizes.iter().sum();
    // The size first: asking for the CPUs reads three files, a tenth of a small decrypt's
    // system calls.
    if total < PARALLEL_TEXT_BYTES || !two_cpus() {
        return None;
    }
    let mut best: Option<(usize, usize, usize)> = None;
    let (mut before, mut counted) = (0, 0);
    for cut in possible_cuts(doc) {
        // The cuts come in order: a running sum, not one per cut (200,000 top-level keys).
        before += sizes[counted..cut].iter().sum::<usize>();
        counted = cut;
        let imbalance = before.abs_diff(total - before);
        if best.is_none_or(|(_, _, least)| imbalance < least) {
            best = Some((cut, before, imbalance));
        }
    }
    // A part under a quarter of the text would save less than the thread costs.
    best.filter(|&(_, _, imbalance)| imbalance <= total / 2)
        .map(|(at, first_len, _)| Cut {
            at,
            first_len,
            rest_len: total - first_len,
        })
}

/// Two parts' texts joined, with room for `spare` more bytes. Both parts are wiped (they
/// may hold plaintext), and the first part's buffer is extended only when it has the room,
/// as growing it would leave a copy behind.
pub(crate) fn join_texts(
    first: Result<String, String>,
    rest: Result<String, String>,
    spare: usize,
) -> Result<String, String> {
    let (first, rest) = (first.map(Zeroizing::new), rest.map(Zeroizing::new));
    let (mut first, rest) = (first?, rest?);
    let needed = rest.len() + spare;
    if first.capacity() - first.len() >= needed {
        first.push_str(&rest);
        return Ok(std::mem::take(&mut *first));
    }
    let mut joined = String::with_capacity(first.len() + needed);
    joined.push_str(&first);
    joined.push_str(&rest);
    Ok(joined)
}

/// The cuts [`split_point`] may choose in `doc`, whatever its size: after an entry that
/// another follows.
pub(crate) fn possible_cuts(doc: &[Item]) -> impl Iterator<Item = usize> + '_ {
    let entry = |item: &Item| matches!(item, Item::Entry(..));
    let last_entry = doc.iter().rposition(entry).unwrap_or(0);
    (1..=last_entry).filter(move |&cut| entry(&doc[cut - 1]))
}

/// Whether a comment is anywhere in `items` (a loop: documents nest 10,000 levels).
pub(crate) fn has_comments(items: &[Item]) -> bool {
    fn push_values<'a>(items: &'a [Item], pending: &mut Vec<&'a Value>) -> bool {
        for item in items {
            match item {
                Item::Comment(_) => return true,
                Item::Entry(_, value) => pending.push(value),
            }
        }
        false
    }
    let mut pending = Vec::new();
    if push_values(items, &mut pending) {
        return true;
    }
    while let Some(value) = pending.pop() {
        match value {
            Value::Comment(_) => return true,
            Value::Map(items) if push_values(items, &mut pending) => return true,
            Value::List(values) => pending.extend(values),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_found_wherever_they_are() {
        let mut seed = 0x1234_5678_9ABC_DEF1;
        let (mut with, mut without) = (0, 0);
        for round in 0..500 {
            let doc = crate::test_docs::document(&mut seed, 1 + round % 5, round % 3 != 0);
            let expected = format!("{doc:?}").contains("Comment(");
            assert_eq!(has_comments(&doc), expected, "{doc:#?}");
            *(if expected { &mut with } else { &mut without }) += 1;
        }
        assert!(
            with > 100 && without > 100,
            "{with} with, {without} without"
        );
    }

    #[test]
    fn parts_join_in_order_and_the_first_error_wins() {
        let ok = |s: &str| Ok::<_, String>(s.to_string());
        let err = |s: &str| Err::<String, _>(s.to_string());
        assert_eq!(join_texts(ok("ab"), ok("cd"), 1).unwrap(), "abcd");
        let mut roomy = String::with_capacity(64);
        roomy.push_str("ab");
        let joined = join_texts(Ok(roomy), ok("cd"), 1).unwrap();
        assert_eq!((joined.as_str(), joined.capacity() >= 5), ("abcd", true));
        assert_eq!(join_texts(err("one"), err("two"), 0).unwrap_err(), "one");
        assert_eq!(join_texts(ok("a"), err("two"), 0).unwrap_err(), "two");
    }

    #[test]
    fn a_cut_among_many_top_level_keys_is_found_in_one_pass() {
        // 200,000 keys: a sum per possible cut would be 2 * 10^10 additions.
        let doc: Vec<Item> = (0..200_000)
            .map(|i| Item::Entry(format!("key_{i}"), Value::Str("v".repeat(8))))
            .collect();
        if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
            let cut = split_point(&doc).expect("large enough");
            assert!((90_000..110_000).contains(&cut.at), "{cut:?}");
            // The parts' sizes come with the cut, counted as the whole would be.
            let (first, rest) = doc.split_at(cut.at);
            assert_eq!(
                (cut.first_len, cut.rest_len),
                (text_len_hint(first), text_len_hint(rest))
            );
        }
    }

    #[test]
    fn cuts_follow_an_entry_and_precede_one() {
        let e = |k: &str| Item::Entry(k.into(), Value::Null);
        let c = || Item::Comment(" c".into());
        let doc = vec![c(), e("a"), e("b"), c(), e("c"), c()];
        assert_eq!(possible_cuts(&doc).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(possible_cuts(&[e("only")]).count(), 0);
        assert_eq!(split_point(&doc), None, "too small to be worth a thread");
    }
}
