//! Decoding `.sops.yaml` as go-yaml v3 decodes it into sops's config structs: go-yaml's
//! scalar resolution and the typed decoder with go-yaml's errors and alias guard, over
//! the node tree of `nodes.rs`.

use super::nodes::{Node, NodeKind, ScalarStyle};
use super::rules::CRYPT_RULE_FIELDS;
use super::*;
use std::collections::{HashMap, HashSet};

// ---------------------------------------------------------------------------------------
// YAML: go-yaml v3 scalar resolution and decoding into the config structure
// ---------------------------------------------------------------------------------------

/// A resolved scalar (go-yaml v3 `resolve`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    /// Looks like a timestamp; decoded as a string into `interface{}`.
    Timestamp(String),
    /// `<<`.
    Merge,
}

impl Resolved {
    fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) | Resolved::Uint(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Str(_) => "!!str",
            Resolved::Timestamp(_) => "!!timestamp",
            Resolved::Merge => "!!merge",
        }
    }
}

pub(super) fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u128::from_str_radix(digits, radix).ok()?;
    if v > u64::MAX as u128 {
        return None;
    }
    Some(if neg { -(v as i128) } else { v as i128 })
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    static TS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
        )
        .expect("static regex")
    });
    TS.is_match(s)
}

pub(super) fn resolve_plain(value: &str) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    let first = value.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if looks_like_timestamp(value) {
            return Resolved::Timestamp(value.to_string());
        }
        let plain = value.replace('_', "");
        if let Some(v) = go_parse_int(&plain) {
            return if v >= i64::MIN as i128 && v <= i64::MAX as i128 {
                Resolved::Int(v as i64)
            } else if v >= 0 {
                Resolved::Uint(v as u64)
            } else {
                Resolved::Str(value.to_string())
            };
        }
        static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
                .expect("static regex")
        });
        if FLOAT.is_match(&plain) {
            if let Ok(f) = plain.parse::<f64>() {
                return Resolved::Float(f);
            }
        }
    } else if first == b'.' {
        if let Ok(f) = value.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(value.to_string())
}

/// A value decoded into Go's `interface{}`; only what `parseKeyField` distinguishes.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Dyn {
    #[default]
    Nil,
    Str(String),
    List(Vec<Dyn>),
    /// Anything else, by its Go type name (`int`, `bool`, `map[string]interface {}`, ...).
    Other(&'static str),
}

impl Dyn {
    pub(super) fn go_type(&self) -> &'static str {
        match self {
            Dyn::Nil => "<nil>",
            Dyn::Str(_) => "string",
            Dyn::List(_) => "[]interface {}",
            Dyn::Other(t) => t,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct RawConfigFile {
    pub(super) creation_rules: Option<Vec<RawCreationRule>>,
    pub(super) destination_rules: Vec<RawDestinationRule>,
    pub(super) stores: StoresConfig,
}

#[derive(Debug, Default, Clone)]
pub(super) struct RawCreationRule {
    pub(super) path_regex: String,
    pub(super) kms: Dyn,
    pub(super) aws_profile: String,
    pub(super) age: Dyn,
    pub(super) pgp: Dyn,
    pub(super) gcp_kms: Dyn,
    pub(super) azure_keyvault: Dyn,
    pub(super) hc_vault_transit_uri: Dyn,
    /// HuaweiCloud KMS key IDs: a list, never a comma-separated string (`[]string` in sops).
    pub(super) hckms: Vec<String>,
    pub(super) key_groups: Vec<RawKeyGroup>,
    pub(super) shamir_threshold: i64,
    /// In [`CRYPT_RULE_FIELDS`] order.
    pub(super) crypt: [String; 6],
    pub(super) mac_only_encrypted: bool,
}

#[derive(Debug, Default, Clone)]
pub(super) struct RawKeyGroup {
    pub(super) merge: Vec<RawKeyGroup>,
    pub(super) kms: Vec<KmsKeySpec>,
    pub(super) gcp_kms: Vec<String>,
    pub(super) azure_keyvault: Vec<AzureKeySpec>,
    pub(super) hc_vault: Vec<String>,
    pub(super) hckms: Vec<String>,
    pub(super) age: Vec<String>,
    pub(super) pgp: Vec<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawDestinationRule {
    pub(super) path_regex: String,
    pub(super) s3_bucket: String,
    pub(super) s3_prefix: String,
    pub(super) gcs_bucket: String,
    pub(super) gcs_prefix: String,
    pub(super) vault_path: String,
    pub(super) vault_address: String,
    pub(super) vault_kv_mount_name: String,
    pub(super) vault_kv_version: i64,
    pub(super) recreation_rule: RawCreationRule,
    pub(super) omit_extensions: bool,
}

/// Decodes nodes like go-yaml v3's decoder, collecting its type errors.
#[derive(Default)]
pub(super) struct Decoder {
    pub(super) errors: Vec<String>,
    /// go-yaml's alias-bomb guard tripped: "document contains excessive aliasing".
    pub(super) excessive_aliasing: bool,
    decoded: u64,
    aliased: u64,
    alias_depth: usize,
}

/// Duplicate-key errors reported for one mapping at most.
const MAX_DUPLICATE_KEY_ERRORS: usize = 100;

/// The share of decoded nodes that may come through aliases (go-yaml v3 `allowedAliasRatio`).
fn allowed_alias_ratio(decoded: u64) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let n = decoded as f64;
    if n <= LOW {
        0.99
    } else if n >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((n - LOW) / (HIGH - LOW))
    }
}

impl Decoder {
    /// Counts `node` before it is decoded, as go-yaml v3's `unmarshal` counts every node
    /// it decodes (keys too) and those inside an alias (an alias is one node outside and
    /// its anchor one inside); false (and decoding stops) once aliases make up more of them
    /// than go-yaml allows. Aliased nodes are shared, not copied, so this bounds both the
    /// memory and the work of an alias bomb.
    fn visit(&mut self, node: &Node) -> bool {
        let inside = self.alias_depth > 0 || node.in_alias;
        if node.alias {
            self.count(inside) && self.count(true)
        } else {
            self.count(inside)
        }
    }

    fn count(&mut self, aliased: bool) -> bool {
        if self.excessive_aliasing {
            return false;
        }
        self.decoded += 1;
        if aliased {
            self.aliased += 1;
        }
        if self.aliased > 100
            && self.decoded > 1000
            && self.aliased as f64 / self.decoded as f64 > allowed_alias_ratio(self.decoded)
        {
            self.excessive_aliasing = true;
            return false;
        }
        true
    }

    /// Runs `decode` on a collection node after [`Decoder::visit`], inside the alias for
    /// the counting when the node is one; `stopped` when decoding has stopped.
    fn within<T>(&mut self, node: &Node, stopped: T, decode: impl FnOnce(&mut Self) -> T) -> T {
        if !self.visit(node) {
            return stopped;
        }
        let alias = usize::from(node.alias || node.in_alias);
        self.alias_depth += alias;
        let decoded = decode(self);
        self.alias_depth -= alias;
        decoded
    }

    /// Resolves a scalar node: quoted and block scalars are strings, `!!str` too; plain
    /// scalars go through YAML 1.2 core resolution plus go-yaml's extras.
    fn resolve(&mut self, node: &Node) -> Option<(Resolved, String)> {
        let NodeKind::Scalar { value, style, tag } = &*node.kind else {
            return None;
        };
        if !self.visit(node) {
            return None;
        }
        let plain = matches!(style, ScalarStyle::Plain);
        let resolved = match tag.as_deref() {
            Some("!!str") | Some("!!binary") => Resolved::Str(value.clone()),
            Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
                let r = resolve_plain(value);
                let r = match (t, r) {
                    ("!!float", Resolved::Int(i)) => Resolved::Float(i as f64),
                    ("!!timestamp", Resolved::Str(s)) => Resolved::Timestamp(s),
                    (_, r) => r,
                };
                if r.tag() != t {
                    self.errors.push(format!(
                        "line {}: cannot decode {} `{}` as a {}",
                        node.line,
                        r.tag(),
                        value,
                        t
                    ));
                    return None;
                }
                r
            }
            Some(_) => Resolved::Str(value.clone()),
            None if plain => resolve_plain(value),
            None => Resolved::Str(value.clone()),
        };
        let shown_tag = match tag.as_deref() {
            Some(t) => t.to_string(),
            None => resolved.tag().to_string(),
        };
        Some((resolved, shown_tag))
    }

    fn type_error(&mut self, node: &Node, tag: &str, target: &str) {
        let value = match &*node.kind {
            NodeKind::Scalar { value, .. } => {
                if value.len() > 10 {
                    let mut end = 7;
                    while !value.is_char_boundary(end) {
                        end -= 1;
                    }
                    format!(" `{}...`", &value[..end])
                } else {
                    format!(" `{value}`")
                }
            }
            _ => String::new(),
        };
        self.errors.push(format!(
            "line {}: cannot unmarshal {tag}{value} into {target}",
            node.line
        ));
    }

    fn kind_tag(node: &Node) -> &'static str {
        match *node.kind {
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
            NodeKind::Scalar { .. } => "!!str",
        }
    }

    /// Decodes into a Go `string`; `None` leaves the target unchanged (null or error).
    fn string(&mut self, node: &Node) -> Option<String> {
        match &*node.kind {
            NodeKind::Scalar { value, .. } => {
                let (resolved, _) = self.resolve(node)?;
                match resolved {
                    Resolved::Null => None,
                    _ => Some(value.clone()),
                }
            }
            _ => {
                self.type_error(node, Self::kind_tag(node), "string");
                None
            }
        }
    }

    /// Decodes into a Go `int`.
    fn int(&mut self, node: &Node) -> Option<i64> {
        if !matches!(*node.kind, NodeKind::Scalar { .. }) {
            self.type_error(node, Self::kind_tag(node), "int");
            return None;
        }
        let (resolved, tag) = self.resolve(node)?;
        match resolved {
            Resolved::Null => None,
            Resolved::Int(i) => Some(i),
            Resolved::Uint(u) if u <= i64::MAX as u64 => Some(u as i64),
            Resolved::Float(f) if f <= i64::MAX as f64 => Some(f as i64),
            _ => {
                self.type_error(node, &tag, "int");
                None
            }
        }
    }

    /// Decodes into a Go `bool` (with go-yaml v3's YAML 1.1 compatibility words).
    fn bool(&mut self, node: &Node) -> Option<bool> {
        if !matches!(*node.kind, NodeKind::Scalar { .. }) {
            self.type_error(node, Self::kind_tag(node), "bool");
            return None;
        }
        let (resolved, tag) = self.resolve(node)?;
        match resolved {
            Resolved::Null => None,
            Resolved::Bool(b) => Some(b),
            Resolved::Str(s) => match s.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
                _ => {
                    self.type_error(node, &tag, "bool");
                    None
                }
            },
            _ => {
                self.type_error(node, &tag, "bool");
                None
            }
        }
    }

    /// go-yaml's duplicate-key errors: one per pair of equal scalar keys, in the order of
    /// its nested loop (first key, then the later one). Found by hashing, not by comparing
    /// every pair, and at most [`MAX_DUPLICATE_KEY_ERRORS`] of them: a mapping of 100,000
    /// equal keys would otherwise cost billions of steps and lines.
    fn duplicate_keys(&mut self, pairs: &[(Node, Node)]) {
        let mut by_text: HashMap<&str, Vec<&Node>> = HashMap::new();
        for (k, _) in pairs {
            if let NodeKind::Scalar { value, .. } = &*k.kind {
                by_text.entry(value.as_str()).or_default().push(k);
            }
        }
        let mut found = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, _) in pairs {
            let NodeKind::Scalar { value, .. } = &*k.kind else {
                continue;
            };
            let at = seen.entry(value.as_str()).or_default();
            *at += 1;
            for later in by_text[value.as_str()].iter().skip(*at) {
                if found.len() == MAX_DUPLICATE_KEY_ERRORS {
                    break;
                }
                found.push(format!(
                    "line {}: mapping key {:?} already defined at line {}",
                    later.line, value, k.line
                ));
            }
        }
        self.errors.extend(found);
    }

    /// Decodes into Go's `interface{}`.
    fn dynamic(&mut self, node: &Node) -> Dyn {
        if !matches!(*node.kind, NodeKind::Scalar { .. }) {
            return self.within(node, Dyn::Nil, |d| d.dynamic_collection(node));
        }
        self.dynamic_collection(node)
    }

    fn dynamic_collection(&mut self, node: &Node) -> Dyn {
        match &*node.kind {
            NodeKind::Scalar { .. } => match self.resolve(node) {
                None => Dyn::Nil,
                Some((r, _)) => match r {
                    Resolved::Null => Dyn::Nil,
                    Resolved::Str(s) | Resolved::Timestamp(s) => Dyn::Str(s),
                    Resolved::Bool(_) => Dyn::Other("bool"),
                    Resolved::Int(_) => Dyn::Other("int"),
                    Resolved::Uint(_) => Dyn::Other("uint64"),
                    Resolved::Float(_) => Dyn::Other("float64"),
                    Resolved::Merge => Dyn::Str("<<".to_string()),
                },
            },
            NodeKind::Seq(items) => Dyn::List(items.iter().map(|i| self.dynamic(i)).collect()),
            NodeKind::Map(pairs) => {
                // go-yaml decodes the whole mapping (and counts it) before the caller
                // finds it is not what it wants.
                for (k, v) in pairs {
                    if self.excessive_aliasing {
                        break;
                    }
                    self.dynamic(k);
                    self.dynamic(v);
                }
                Dyn::Other("map[string]interface {}")
            }
        }
    }

    /// Decodes a sequence into a Go slice. `None` for null (slice stays nil) or a type
    /// error. Elements that decode to nothing (null into a struct or string) are dropped,
    /// as go-yaml does.
    fn seq<T>(
        &mut self,
        node: &Node,
        type_name: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<T>> {
        match &*node.kind {
            NodeKind::Seq(items) => self.within(node, None, |d| {
                Some(items.iter().filter_map(|n| item(d, n)).collect())
            }),
            NodeKind::Scalar { .. } => {
                let (resolved, tag) = self.resolve(node)?;
                if resolved != Resolved::Null {
                    self.type_error(node, &tag, type_name);
                }
                None
            }
            NodeKind::Map(_) => {
                self.type_error(node, "!!map", type_name);
                None
            }
        }
    }

    /// The key/value pairs of a mapping after `<<` merges (own keys win; among merged maps
    /// the earlier wins), with go-yaml's duplicate-key errors. `None` for null or a type
    /// error (for `type_name`).
    fn mapping(&mut self, node: &Node, type_name: &str) -> Option<Vec<(String, Node)>> {
        if matches!(*node.kind, NodeKind::Map(_)) {
            return self.within(node, None, |d| d.mapping_pairs(node, type_name));
        }
        self.mapping_pairs(node, type_name)
    }

    fn mapping_pairs(&mut self, node: &Node, type_name: &str) -> Option<Vec<(String, Node)>> {
        let pairs = match &*node.kind {
            NodeKind::Map(pairs) => pairs,
            NodeKind::Scalar { .. } => {
                let (resolved, tag) = self.resolve(node)?;
                if resolved != Resolved::Null {
                    self.type_error(node, &tag, type_name);
                }
                return None;
            }
            NodeKind::Seq(_) => {
                self.type_error(node, "!!seq", type_name);
                return None;
            }
        };
        self.duplicate_keys(pairs);
        // The values are decoded after this returns, outside `within`: those of an aliased
        // mapping carry the mark themselves so they still count as aliased.
        let inside_alias = self.alias_depth > 0;
        let value = |v: &Node| Node {
            in_alias: v.in_alias || inside_alias,
            ..v.clone()
        };
        let mut own: Vec<(String, Node)> = Vec::new();
        let mut own_names: HashSet<String> = HashSet::new();
        let mut merged: Vec<(String, Node)> = Vec::new();
        let mut merged_names: HashSet<String> = HashSet::new();
        for (k, v) in pairs {
            let is_merge = matches!(&*k.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain, tag: None } if value == "<<");
            if is_merge {
                let sources: Vec<&Node> = match &*v.kind {
                    NodeKind::Map(_) => vec![v],
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => {
                        self.errors.push(format!(
                            "line {}: map merge requires map or sequence of maps as the value",
                            v.line
                        ));
                        continue;
                    }
                };
                for src in sources {
                    if !matches!(*src.kind, NodeKind::Map(_)) {
                        self.errors.push(format!(
                            "line {}: map merge requires map or sequence of maps as the value",
                            src.line
                        ));
                        continue;
                    }
                    let src = value(src);
                    if let Some(sub) = self.mapping(&src, type_name) {
                        for (name, v) in sub {
                            if merged_names.insert(name.clone()) {
                                merged.push((name, v));
                            }
                        }
                    }
                }
                continue;
            }
            if !self.visit(k) {
                return None;
            }
            match &*k.kind {
                NodeKind::Scalar { value: name, .. } => {
                    own_names.insert(name.clone());
                    own.push((name.clone(), value(v)));
                }
                _ => self.type_error(k, Self::kind_tag(k), "string"),
            }
        }
        own.extend(
            merged
                .into_iter()
                .filter(|(name, _)| !own_names.contains(name)),
        );
        Some(own)
    }

    pub(super) fn config_file(&mut self, root: Option<&Node>) -> RawConfigFile {
        let mut out = RawConfigFile::default();
        let Some(root) = root else { return out };
        let Some(fields) = self.mapping(root, "config.configFile") else {
            return out;
        };
        for (name, value) in &fields {
            match name.as_str() {
                "creation_rules" => {
                    if let Some(rules) =
                        self.seq(value, "[]config.creationRule", |d, n| d.creation_rule(n))
                    {
                        out.creation_rules = Some(rules);
                    }
                }
                "destination_rules" => {
                    if let Some(rules) = self.seq(value, "[]config.destinationRule", |d, n| {
                        d.destination_rule(n)
                    }) {
                        out.destination_rules = rules;
                    }
                }
                "stores" => self.stores(value, &mut out.stores),
                _ => {}
            }
        }
        out
    }

    fn stores(&mut self, node: &Node, out: &mut StoresConfig) {
        let Some(fields) = self.mapping(node, "config.StoresConfig") else {
            return;
        };
        for (name, value) in &fields {
            let (type_name, target) = match name.as_str() {
                "yaml" => ("config.YAMLStoreConfig", Some(&mut out.yaml_indent)),
                "json" => ("config.JSONStoreConfig", Some(&mut out.json_indent)),
                "json_binary" => (
                    "config.JSONBinaryStoreConfig",
                    Some(&mut out.json_binary_indent),
                ),
                "dotenv" => ("config.DotenvStoreConfig", None),
                "ini" => ("config.INIStoreConfig", None),
                _ => continue,
            };
            let Some(sub) = self.mapping(value, type_name) else {
                continue;
            };
            if let Some(target) = target {
                for (k, v) in &sub {
                    if *k == "indent" {
                        if let Some(i) = self.int(v) {
                            *target = i;
                        }
                    }
                }
            }
        }
    }

    fn creation_rule(&mut self, node: &Node) -> Option<RawCreationRule> {
        let fields = self.mapping(node, "config.creationRule")?;
        let mut r = RawCreationRule::default();
        for (name, value) in &fields {
            match name.as_str() {
                "path_regex" => set(&mut r.path_regex, self.string(value)),
                "kms" => r.kms = self.dynamic(value),
                "aws_profile" => set(&mut r.aws_profile, self.string(value)),
                "age" => r.age = self.dynamic(value),
                "pgp" => r.pgp = self.dynamic(value),
                "gcp_kms" => r.gcp_kms = self.dynamic(value),
                "azure_keyvault" => r.azure_keyvault = self.dynamic(value),
                "hc_vault_transit_uri" => r.hc_vault_transit_uri = self.dynamic(value),
                "hckms" => set(&mut r.hckms, self.string_list(value)),
                "key_groups" => {
                    if let Some(g) = self.seq(value, "[]config.keyGroup", |d, n| d.key_group(n)) {
                        r.key_groups = g;
                    }
                }
                "shamir_threshold" => set(&mut r.shamir_threshold, self.int(value)),
                "mac_only_encrypted" => set(&mut r.mac_only_encrypted, self.bool(value)),
                other => {
                    if let Some(i) = CRYPT_RULE_FIELDS.iter().position(|f| *f == other) {
                        set(&mut r.crypt[i], self.string(value));
                    }
                }
            }
        }
        Some(r)
    }

    fn string_list(&mut self, node: &Node) -> Option<Vec<String>> {
        self.seq(node, "[]string", |d, n| d.string(n))
    }

    fn key_group(&mut self, node: &Node) -> Option<RawKeyGroup> {
        let fields = self.mapping(node, "config.keyGroup")?;
        let mut g = RawKeyGroup::default();
        for (name, value) in &fields {
            match name.as_str() {
                "merge" => set(
                    &mut g.merge,
                    self.seq(value, "[]config.keyGroup", |d, n| d.key_group(n)),
                ),
                "kms" => set(
                    &mut g.kms,
                    self.seq(value, "[]config.kmsKey", |d, n| d.kms_key(n)),
                ),
                "gcp_kms" => set(
                    &mut g.gcp_kms,
                    self.seq(value, "[]config.gcpKmsKey", |d, n| {
                        let f = d.mapping(n, "config.gcpKmsKey")?;
                        let mut id = String::new();
                        for (k, v) in &f {
                            if k == "resource_id" {
                                set(&mut id, d.string(v));
                            }
                        }
                        Some(id)
                    }),
                ),
                "azure_keyvault" => set(
                    &mut g.azure_keyvault,
                    self.seq(value, "[]config.azureKVKey", |d, n| {
                        let f = d.mapping(n, "config.azureKVKey")?;
                        let mut k = AzureKeySpec::default();
                        for (name, v) in &f {
                            match name.as_str() {
                                "vaultUrl" => set(&mut k.vault_url, d.string(v)),
                                "key" => set(&mut k.key, d.string(v)),
                                "version" => set(&mut k.version, d.string(v)),
                                _ => {}
                            }
                        }
                        Some(k)
                    }),
                ),
                "hc_vault" => set(&mut g.hc_vault, self.string_list(value)),
                "hckms" => set(
                    &mut g.hckms,
                    self.seq(value, "[]config.hckmsKey", |d, n| {
                        let f = d.mapping(n, "config.hckmsKey")?;
                        let mut id = String::new();
                        for (k, v) in &f {
                            if k == "key_id" {
                                set(&mut id, d.string(v));
                            }
                        }
                        Some(id)
                    }),
                ),
                "age" => set(&mut g.age, self.string_list(value)),
                "pgp" => set(&mut g.pgp, self.string_list(value)),
                _ => {}
            }
        }
        Some(g)
    }

    fn kms_key(&mut self, node: &Node) -> Option<KmsKeySpec> {
        let fields = self.mapping(node, "config.kmsKey")?;
        let mut k = KmsKeySpec::default();
        for (name, value) in &fields {
            match name.as_str() {
                "arn" => set(&mut k.arn, self.string(value)),
                "role" => set(&mut k.role, self.string(value)),
                "aws_profile" => set(&mut k.aws_profile, self.string(value)),
                "context" => {
                    if let Some(pairs) = self.mapping(value, "map[string]*string") {
                        let mut map = BTreeMap::new();
                        for (ck, cv) in pairs {
                            let cv = &cv;
                            let v = match &*cv.kind {
                                NodeKind::Scalar { .. } => self.string(cv),
                                _ => {
                                    self.type_error(cv, Self::kind_tag(cv), "string");
                                    continue;
                                }
                            };
                            map.insert(ck, v);
                        }
                        k.context = Some(map);
                    } else {
                        k.context = None;
                    }
                }
                _ => {}
            }
        }
        Some(k)
    }

    fn destination_rule(&mut self, node: &Node) -> Option<RawDestinationRule> {
        let fields = self.mapping(node, "config.destinationRule")?;
        let mut r = RawDestinationRule::default();
        for (name, value) in &fields {
            match name.as_str() {
                "path_regex" => set(&mut r.path_regex, self.string(value)),
                "s3_bucket" => set(&mut r.s3_bucket, self.string(value)),
                "s3_prefix" => set(&mut r.s3_prefix, self.string(value)),
                "gcs_bucket" => set(&mut r.gcs_bucket, self.string(value)),
                "gcs_prefix" => set(&mut r.gcs_prefix, self.string(value)),
                "vault_path" => set(&mut r.vault_path, self.string(value)),
                "vault_address" => set(&mut r.vault_address, self.string(value)),
                "vault_kv_mount_name" => set(&mut r.vault_kv_mount_name, self.string(value)),
                "vault_kv_version" => set(&mut r.vault_kv_version, self.int(value)),
                "recreation_rule" => set(&mut r.recreation_rule, self.creation_rule(value)),
                "omit_extensions" => set(&mut r.omit_extensions, self.bool(value)),
                _ => {}
            }
        }
        Some(r)
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}
