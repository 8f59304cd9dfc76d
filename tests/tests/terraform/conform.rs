//! The configuration against one release of the google provider's schema:
//! what `terraform validate` would report with the provider installed.
//!
//! - every resource and data source type exists;
//! - every argument and nested block exists at its level (`dynamic "x"`
//!   blocks too, with their `content` checked as an `x` block), is written
//!   as what it is (`x = ...` for an argument, `x { }` for a block), and a
//!   block that may appear once appears once;
//! - every required argument and block is there (a `dynamic` block counts:
//!   its `for_each` may produce it);
//! - nothing sets a computed-only attribute;
//! - every reference to a resource or data source attribute
//!   (`google_x.n.attr[0].y`, `data.google_x.n.attr`, `self.attr`) names an
//!   attribute or block the type has, walking into nested blocks, lists,
//!   maps and objects.
//!
//! Meta-arguments (`count`, `for_each`, `depends_on`, `provider`,
//! `lifecycle`, `connection`, `provisioner`) belong to Terraform, not to the
//! provider. Whether a value has the right type is left to Terraform.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Body;
use hcl::expr::TraversalOperator;

use crate::hclx::{Config, attr};
use crate::refs;
use crate::schema::{Block, Mode, Schema, Type};

/// What Terraform itself handles in a block of each kind.
struct Meta {
    attributes: &'static [&'static str],
    blocks: &'static [&'static str],
}

const RESOURCE_META: Meta = Meta {
    attributes: &["count", "for_each", "depends_on", "provider"],
    blocks: &["lifecycle", "connection", "provisioner"],
};
const DATA_META: Meta = Meta {
    attributes: &["count", "for_each", "depends_on", "provider"],
    blocks: &["lifecycle"],
};
const NO_META: Meta = Meta {
    attributes: &[],
    blocks: &[],
};

/// Types Terraform provides without a provider.
const BUILTIN_TYPES: &[&str] = &["terraform_data"];

/// Every problem of `config` against `schema`.
pub fn check(config: &Config, schema: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    for file in &config.files {
        for b in file.body.blocks() {
            let (kinds, what, meta) = match b.identifier() {
                "resource" => (&schema.resources, "resource type", &RESOURCE_META),
                "data" => (&schema.data_sources, "data source", &DATA_META),
                _ => continue,
            };
            let [kind, name] = b.labels() else { continue };
            let (kind, name) = (kind.as_str(), name.as_str());
            if BUILTIN_TYPES.contains(&kind) {
                continue;
            }
            let place = format!("{}: {} {kind}.{name}", file.name, b.identifier());
            match kinds.get(kind) {
                Some(block) => body(block, b.body(), meta, &place, "", &mut problems),
                None => problems.push(format!(
                    "{place}: unknown {what} `{kind}`{}",
                    suggest(kind, kinds.keys().map(String::as_str))
                )),
            }
        }
    }
    problems.extend(references(config, schema));
    problems
}

/// `path` is the nesting so far (`template.containers.`), for messages.
fn body(
    schema: &Block,
    body: &Body,
    meta: &Meta,
    place: &str,
    path: &str,
    problems: &mut Vec<String>,
) {
    let names = || {
        schema
            .attributes
            .keys()
            .chain(schema.blocks.keys())
            .map(String::as_str)
    };
    let mut set = BTreeSet::new();
    for a in body.attributes() {
        let key = a.key();
        if meta.attributes.contains(&key) {
            continue;
        }
        set.insert(key);
        match schema.attributes.get(key) {
            Some(at) if at.mode == Mode::Computed => problems.push(format!(
                "{place}: {path}{key} is computed-only: the provider sets it, a configuration cannot"
            )),
            Some(_) => {}
            None if schema.blocks.contains_key(key) => problems.push(format!(
                "{place}: {path}{key} is a block: write `{key} {{ ... }}`, not `{key} = ...`"
            )),
            None => problems.push(format!(
                "{place}: unknown argument `{path}{key}`{}",
                suggest(key, names())
            )),
        }
    }
    let mut written: BTreeMap<&str, usize> = BTreeMap::new();
    for b in body.blocks() {
        let ident = b.identifier();
        if meta.blocks.contains(&ident) {
            continue;
        }
        if ident == "dynamic" {
            dynamic(schema, b, place, path, problems);
            if let Some(label) = b.labels().first() {
                // Counted as present, not as one: for_each decides how many.
                written.entry(label.as_str()).or_insert(0);
            }
            continue;
        }
        match schema.blocks.get(ident) {
            Some(nested) => {
                *written.entry(ident).or_insert(0) += 1;
                let inner = format!("{path}{ident}.");
                self::body(&nested.block, b.body(), &NO_META, place, &inner, problems);
            }
            None if schema.attributes.contains_key(ident) => problems.push(format!(
                "{place}: {path}{ident} is an argument: write `{ident} = ...`, not a block"
            )),
            None => problems.push(format!(
                "{place}: unknown block `{path}{ident}`{}",
                suggest(ident, names())
            )),
        }
    }
    for (name, at) in &schema.attributes {
        if at.mode == Mode::Required && !set.contains(name.as_str()) {
            problems.push(format!("{place}: missing required argument `{path}{name}`"));
        }
    }
    for (name, nested) in &schema.blocks {
        match written.get(name.as_str()) {
            None if nested.required => {
                problems.push(format!("{place}: missing required block `{path}{name}`"));
            }
            Some(&n) if n > 1 && !nested.list => problems.push(format!(
                "{place}: block `{path}{name}` may appear only once (found {n})"
            )),
            _ => {}
        }
    }
}

/// `dynamic "LABEL" { for_each = ..., iterator = ..., content { ... } }`.
fn dynamic(schema: &Block, b: &hcl::Block, place: &str, path: &str, problems: &mut Vec<String>) {
    let Some(label) = b.labels().first().map(hcl::BlockLabel::as_str) else {
        problems.push(format!("{place}: a dynamic block in {path} has no label"));
        return;
    };
    let Some(nested) = schema.blocks.get(label) else {
        let why = if schema.attributes.contains_key(label) {
            " (it is an argument, not a block)".to_owned()
        } else {
            suggest(label, schema.blocks.keys().map(String::as_str))
        };
        problems.push(format!(
            "{place}: unknown dynamic block `{path}{label}`{why}"
        ));
        return;
    };
    let dynamic_place = format!("{place}: dynamic \"{path}{label}\"");
    for a in b.body().attributes() {
        if !["for_each", "iterator", "labels"].contains(&a.key()) {
            problems.push(format!(
                "{dynamic_place}: unknown argument `{}` (content goes in `content {{ }}`)",
                a.key()
            ));
        }
    }
    if attr(b.body(), "for_each").is_none() {
        problems.push(format!("{dynamic_place}: missing for_each"));
    }
    let contents: Vec<&hcl::Block> = b.body().blocks().collect();
    match contents.as_slice() {
        [content] if content.identifier() == "content" => {
            let inner = format!("{path}{label}.");
            body(
                &nested.block,
                content.body(),
                &NO_META,
                place,
                &inner,
                problems,
            );
        }
        _ => problems.push(format!(
            "{dynamic_place}: needs exactly one `content` block"
        )),
    }
}

/// References to attributes of resources and data sources.
fn references(config: &Config, schema: &Schema) -> Vec<String> {
    let mut types: BTreeMap<String, Option<&Block>> = BTreeMap::new();
    for r in config.labeled("resource", None) {
        types.insert(r.address(), schema.resources.get(r.kind));
    }
    for d in config.labeled("data", None) {
        types.insert(
            format!("data.{}", d.address()),
            schema.data_sources.get(d.kind),
        );
    }
    let (found, _) = refs::references(config);
    let selves = refs::self_references(config);
    let all = found
        .iter()
        .map(|r| (r, r.target.as_str()))
        .chain(selves.iter().map(|r| (r, "self")));
    let mut problems = Vec::new();
    for (r, shown) in all {
        // Undeclared addresses and unknown types are reported elsewhere.
        let Some(Some(block)) = types.get(&r.target) else {
            continue;
        };
        if let Err(why) = walk(block, &r.rest) {
            problems.push(format!(
                "{}: {shown}{}: {why}",
                r.place,
                render_ops(&r.rest)
            ));
        }
    }
    problems
}

/// A value reached by a reference.
enum Node<'a> {
    Block(&'a Block),
    Value(&'a Type),
}

/// Follows `ops` (what comes after `TYPE.NAME`) through a type's schema.
pub fn walk(block: &Block, ops: &[TraversalOperator]) -> Result<(), String> {
    // `TYPE.NAME[0]`, `["key"]`, `[*]`: an instance of a resource with count or for_each.
    let start = ops
        .iter()
        .position(|op| matches!(op, TraversalOperator::GetAttr(_)))
        .unwrap_or(ops.len());
    let mut node = Node::Block(block);
    for (i, op) in ops.iter().enumerate().skip(start) {
        let path = render_ops(&ops[start..i]);
        let path = path.trim_start_matches('.');
        node = match (node, op) {
            (Node::Block(b), TraversalOperator::GetAttr(name)) => {
                let name = name.as_str();
                if let Some(a) = b.attributes.get(name) {
                    Node::Value(&a.ty)
                } else if let Some(nested) = b.blocks.get(name) {
                    Node::Block(&nested.block)
                } else {
                    let names = b
                        .attributes
                        .keys()
                        .chain(b.blocks.keys())
                        .map(String::as_str);
                    let what = if path.is_empty() {
                        "it has".to_owned()
                    } else {
                        format!("`{path}` has")
                    };
                    return Err(format!(
                        "no attribute `{name}`: {what} no such attribute or block{}",
                        suggest(name, names)
                    ));
                }
            }
            // Indexing or splatting a repeated block.
            (Node::Block(b), _) => Node::Block(b),
            (Node::Value(Type::Primitive(p)), _) if p == "any" => return Ok(()),
            (Node::Value(Type::Primitive(p)), TraversalOperator::GetAttr(name)) => {
                return Err(format!("`{path}` is a {p}: it has no attribute `{name}`"));
            }
            (Node::Value(Type::Primitive(p)), _) => {
                return Err(format!("`{path}` is a {p}: it cannot be indexed"));
            }
            (Node::Value(Type::List { .. }), TraversalOperator::GetAttr(name)) => {
                return Err(format!(
                    "`{path}` is a list: pick an element (`{path}[0].{name}`) or all (`{path}[*].{name}`)"
                ));
            }
            (Node::Value(Type::List { list }), _) => Node::Value(list),
            (Node::Value(Type::Map { map }), _) => Node::Value(map),
            (Node::Value(Type::Object { object }), TraversalOperator::GetAttr(name)) => {
                match object.get(name.as_str()) {
                    Some(t) => Node::Value(t),
                    None => {
                        return Err(format!(
                            "`{path}` has no attribute `{name}`{}",
                            suggest(name.as_str(), object.keys().map(String::as_str))
                        ));
                    }
                }
            }
            // A nested object that Terraform holds as a list of one.
            (node @ Node::Value(Type::Object { .. }), _) => node,
        };
    }
    Ok(())
}

/// `.template[0].containers`, as written.
fn render_ops(ops: &[TraversalOperator]) -> String {
    ops.iter()
        .map(|op| match op {
            TraversalOperator::GetAttr(id) => format!(".{}", id.as_str()),
            TraversalOperator::Index(e) => format!("[{e}]"),
            TraversalOperator::LegacyIndex(i) => format!(".{i}"),
            TraversalOperator::AttrSplat => ".*".to_owned(),
            TraversalOperator::FullSplat => "[*]".to_owned(),
        })
        .collect()
}

/// ` (did you mean `x`?)` for the closest known name, when it is close.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (distance(name, k), k))
        .filter(|(d, _)| *d <= 2.max(name.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
