//! The example documents `edit` opens for a file that does not exist yet (sops's
//! `ExampleComplexTree`, `ExampleFlatTree`, `ExampleSimpleTree`), so a new file starts
//! from the same text sops shows.

use crate::stores::Format;
use crate::tree::{Branch, Item, Value};

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

const HELLO: &str = "Welcome to SOPS! Edit this file as you please!";

/// The example documents for a format.
pub fn example_docs(format: Format) -> Vec<Branch> {
    let branch = match format {
        Format::Yaml | Format::Json => vec![
            Item::Entry("hello".into(), s(HELLO)),
            Item::Entry("example_key".into(), s("example_value")),
            Item::Comment(" Example comment".into()),
            Item::Entry(
                "example_array".into(),
                Value::List(vec![s("example_value1"), s("example_value2")]),
            ),
            Item::Entry("example_number".into(), Value::Float(1234.56789)),
            Item::Entry(
                "example_booleans".into(),
                Value::List(vec![Value::Bool(true), Value::Bool(false)]),
            ),
        ],
        Format::Dotenv => vec![
            Item::Comment(" This is an example file.".into()),
            Item::Entry("hello".into(), s(HELLO)),
            Item::Entry("example_key".into(), s("example_value")),
            Item::Entry("example_multiline".into(), s("foo\nbar\nbaz")),
        ],
        Format::Ini => vec![Item::Entry(
            "Welcome!".into(),
            Value::Map(vec![
                Item::Comment(" This is an example file.".into()),
                Item::Entry("hello".into(), s(HELLO)),
                Item::Entry("example_key".into(), s("example_value")),
            ]),
        )],
        Format::Binary => vec![Item::Entry("data".into(), s(HELLO))],
    };
    vec![branch]
}
