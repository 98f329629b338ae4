//! File formats. A store parses bytes into [`Branch`]es and emits branches back to bytes,
//! matching the real sops byte for byte on output.

use crate::tree::{Branch, Value};

pub mod binary;
pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod yaml;

/// Why a store could not parse or emit a file. The message is one line and names no secret.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// Human-readable, single line.
    pub message: String,
}

impl StoreError {
    /// Builds an error from any message.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
        }
    }

    /// `input` as text, or an error naming `format` and the line the first invalid UTF-8
    /// byte sequence is on (the line-based stores split on ASCII bytes, so valid text stays
    /// valid when split). A copy, checked after it is made: the input may be a mapped file
    /// that changes meanwhile.
    pub(crate) fn utf8_text(input: &[u8], format: &str) -> Result<String, StoreError> {
        String::from_utf8(input.to_vec()).map_err(|e| {
            let e = e.utf8_error();
            let line = input[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            StoreError::new(format!("{format} input is not valid UTF-8 (line {line})"))
        })
    }
}

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` / `.yml`
    Yaml,
    /// `.json`
    Json,
    /// `.env`
    Dotenv,
    /// `.ini`
    Ini,
    /// anything else: the whole file is one value
    Binary,
}

impl Format {
    /// The format sops infers from a path's extension (the path's bytes need not be UTF-8).
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Format {
        use std::os::unix::ffi::OsStrExt;
        // Case matters, as in sops (`strings.HasSuffix`): `f.YAML` is a binary file.
        let name = path.as_ref().as_os_str().as_bytes();
        if name.ends_with(b".yaml") || name.ends_with(b".yml") {
            Format::Yaml
        } else if name.ends_with(b".json") {
            Format::Json
        } else if name.ends_with(b".env") {
            Format::Dotenv
        } else if name.ends_with(b".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses an `--input-type`/`--output-type` argument.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" => Some(Format::Dotenv),
            "ini" => Some(Format::Ini),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The name sops uses for this format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// A store for this format. `yaml_indent` only affects YAML output (default 4);
    /// `json_indent` only JSON output (default: one tab).
    pub fn store(self, options: &StoreOptions) -> Box<dyn Store> {
        match self {
            Format::Yaml => Box::new(yaml::YamlStore::new(options.yaml_indent)),
            Format::Json => Box::new(json::JsonStore::new(options.json_indent)),
            Format::Dotenv => Box::new(dotenv::DotenvStore),
            Format::Ini => Box::new(ini::IniStore),
            Format::Binary => Box::new(binary::BinaryStore::new(options.json_binary_indent)),
        }
    }
}

/// Output options that sops takes from `--indent` and `.sops.yaml` `stores:`.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Spaces per YAML indentation level; `None` or 0 = sops's default of 4; negative:
    /// writing fails, as in sops.
    pub yaml_indent: Option<i64>,
    /// Spaces per JSON indentation level; `None` or -1 = sops's default (a tab); below -1:
    /// writing fails, as in sops.
    pub json_indent: Option<i64>,
    /// Like `json_indent`, for the JSON envelope of binary files (`stores.json_binary`).
    pub json_binary_indent: Option<i64>,
}

/// A file format: parse to a tree, emit from a tree.
pub trait Store {
    /// Parses a plaintext file into its documents (YAML may have several; others one).
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError>;

    /// Parses an encrypted file: its documents with the top-level `sops` entry removed from
    /// each, and the `sops` metadata subtree of the first document (`None` when absent).
    /// Flattened formats (dotenv, INI) return the metadata already un-flattened.
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError>;

    /// [`Store::load_encrypted`] of input the caller gives up: a store that keeps the text
    /// while parsing (YAML) then takes it without copying the file. (Plaintext input is
    /// not given up: the caller wipes it.)
    fn load_encrypted_owned(
        &self,
        input: Vec<u8>,
    ) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        self.load_encrypted(&input)
    }

    /// Emits plaintext documents.
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError>;

    /// Emits encrypted documents with `metadata` appended as a top-level `sops` entry
    /// (to every document, as sops does; flattened formats flatten it).
    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError>;

    /// Emits one value the way `sops decrypt --extract` prints a non-string value.
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError>;
}
