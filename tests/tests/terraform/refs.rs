//! References: every `var.X`, `local.X`, `TYPE.NAME`, `data.TYPE.NAME` and
//! `module.X` in the configuration must name a declaration.
//!
//! Terraform only reports an undeclared reference in `terraform validate`,
//! which needs the google provider (not downloadable here), so this walks
//! every expression itself: attributes of every block, strings and
//! heredoc templates (including `%{for}`/`%{if}` directives), function
//! arguments, `for` expressions, conditionals, `count`/`for_each`, and
//! `dynamic` blocks. Names a scope introduces (`for` variables, a dynamic
//! block's iterator) and Terraform's own (`each`, `count`, `self`, `path`,
//! `terraform`) are not references. `self.X` inside a resource is kept
//! apart, with the resource it means, for the attribute check against the
//! provider's schema (`conform`).

use std::collections::BTreeSet;

use hcl::expr::{Expression, ObjectKey, Operation, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Block, Body};

use crate::hclx::{Config, attr};

/// Roots Terraform defines itself.
const BUILTIN_ROOTS: &[&str] = &["each", "count", "self", "path", "terraform"];

/// One reference found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `var.x`, `local.x`, `google_pubsub_topic.jobs`, `data.google_project.this`, `module.m`.
    pub target: String,
    /// Where: file and enclosing top-level block.
    pub place: String,
    /// A variable's reference to itself in its own validation, which does
    /// not count as a use.
    pub own_declaration: bool,
    /// What follows the address: `.uri`, `[0].containers`, ...
    pub rest: Vec<TraversalOperator>,
}

/// What the configuration declares, in reference syntax.
pub fn declarations(config: &Config) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in config.variables().keys() {
        out.insert(format!("var.{name}"));
    }
    for name in config.locals().keys() {
        out.insert(format!("local.{name}"));
    }
    for r in config.labeled("resource", None) {
        out.insert(r.address());
    }
    for d in config.labeled("data", None) {
        out.insert(format!("data.{}", d.address()));
    }
    for (_, m) in config.top_blocks("module") {
        if let Some(l) = m.labels().first() {
            out.insert(format!("module.{}", l.as_str()));
        }
    }
    out
}

/// Every reference in every file; malformed ones (a bare name, `var` without
/// an attribute) come back as problems.
pub fn references(config: &Config) -> (Vec<Reference>, Vec<String>) {
    let walker = walk(config);
    (walker.found, walker.problems)
}

/// Every `self.X` in a resource or data source, as a reference to that
/// resource (`target` is its address).
pub fn self_references(config: &Config) -> Vec<Reference> {
    walk(config).selves
}

fn walk(config: &Config) -> Walker {
    let mut walker = Walker::default();
    for file in &config.files {
        for structure in &file.body {
            match structure {
                hcl::Structure::Attribute(a) => {
                    walker.place = format!("{}: {}", file.name, a.key());
                    walker.expr(a.expr());
                }
                hcl::Structure::Block(b) => {
                    let labels: Vec<&str> =
                        b.labels().iter().map(hcl::BlockLabel::as_str).collect();
                    walker.place =
                        format!("{}: {} {}", file.name, b.identifier(), labels.join("."));
                    walker.enclosing = match (b.identifier(), labels.as_slice()) {
                        ("resource", [t, n]) => Some(format!("{t}.{n}")),
                        ("data", [t, n]) => Some(format!("data.{t}.{n}")),
                        _ => None,
                    };
                    walker.top_block(b);
                }
            }
        }
    }
    walker
}

/// Problems: references to nothing, and variables or locals nobody uses.
pub fn check(config: &Config) -> Vec<String> {
    let declared = declarations(config);
    let (found, mut problems) = references(config);
    for r in &found {
        if !declared.contains(&r.target) {
            let what = match r.target.split('.').next() {
                Some("var") => "variable",
                Some("local") => "local value",
                Some("data") => "data source",
                Some("module") => "module",
                _ => "resource",
            };
            problems.push(format!(
                "reference to undeclared {what} {} ({})",
                r.target, r.place
            ));
        }
    }
    let used: BTreeSet<&str> = found
        .iter()
        .filter(|r| !r.own_declaration)
        .map(|r| r.target.as_str())
        .collect();
    for d in &declared {
        if (d.starts_with("var.") || d.starts_with("local.")) && !used.contains(d.as_str()) {
            problems.push(format!("{d} is declared but never used"));
        }
    }
    problems
}

#[derive(Default)]
struct Walker {
    /// Names bound by enclosing `for` expressions, template `for`
    /// directives and dynamic blocks.
    scope: Vec<String>,
    place: String,
    /// `var.NAME` while walking the declaration of NAME.
    declaring: Option<String>,
    /// The address of the resource or data block being walked, which `self` means.
    enclosing: Option<String>,
    found: Vec<Reference>,
    selves: Vec<Reference>,
    problems: Vec<String>,
}

impl Walker {
    fn top_block(&mut self, b: &Block) {
        match b.identifier() {
            // Settings and addresses, not expressions over the configuration.
            "terraform" | "moved" | "import" | "removed" => {}
            "variable" => {
                self.declaring = b.labels().first().map(|l| format!("var.{}", l.as_str()));
                for a in b.body().attributes() {
                    // `type = list(string)` is a type constraint, not a reference.
                    if a.key() != "type" {
                        self.expr(a.expr());
                    }
                }
                for nested in b.body().blocks() {
                    self.block(nested);
                }
                self.declaring = None;
            }
            _ => self.body(b.body()),
        }
    }

    fn body(&mut self, body: &Body) {
        for a in body.attributes() {
            match a.key() {
                // Attribute names of the resource itself; `provider = google.x`
                // names a provider configuration.
                "ignore_changes" | "provider" => {}
                _ => self.expr(a.expr()),
            }
        }
        for b in body.blocks() {
            self.block(b);
        }
    }

    fn block(&mut self, b: &Block) {
        if b.identifier() != "dynamic" {
            self.body(b.body());
            return;
        }
        // dynamic "LABEL" { for_each = ..., iterator = NAME, content { ... } }:
        // for_each is evaluated outside; content sees the iterator, named
        // after the label unless `iterator` renames it.
        let iterator = attr(b.body(), "iterator")
            .and_then(|e| match e {
                Expression::Variable(v) => Some(v.as_str().to_owned()),
                _ => None,
            })
            .or_else(|| b.labels().first().map(|l| l.as_str().to_owned()));
        for a in b.body().attributes() {
            if a.key() != "iterator" {
                self.expr(a.expr());
            }
        }
        let bound = iterator.is_some();
        if let Some(name) = iterator {
            self.scope.push(name);
        }
        for nested in b.body().blocks() {
            self.block(nested);
        }
        if bound {
            self.scope.pop();
        }
    }

    fn bound(&self, name: &str) -> bool {
        BUILTIN_ROOTS.contains(&name) || self.scope.iter().any(|s| s == name)
    }

    fn expr(&mut self, expr: &Expression) {
        match expr {
            Expression::Traversal(t) => {
                match &t.expr {
                    Expression::Variable(root) => self.root(root.as_str(), &t.operators),
                    other => self.expr(other),
                }
                for op in &t.operators {
                    if let TraversalOperator::Index(i) = op {
                        self.expr(i);
                    }
                }
            }
            Expression::Variable(v) if ["var", "local", "data", "module"].contains(&v.as_str()) => {
                self.root(v.as_str(), &[]);
            }
            Expression::Variable(v) if !self.bound(v.as_str()) => {
                self.problems.push(format!(
                    "bare name `{}` is not a reference Terraform understands ({})",
                    v.as_str(),
                    self.place
                ));
            }
            Expression::TemplateExpr(t) => match Template::from_expr(t) {
                Ok(tpl) => self.template(&tpl),
                Err(e) => self
                    .problems
                    .push(format!("template does not parse: {e} ({})", self.place)),
            },
            Expression::FuncCall(f) => {
                for a in &f.args {
                    self.expr(a);
                }
            }
            Expression::Parenthesis(inner) => self.expr(inner),
            Expression::Conditional(c) => {
                self.expr(&c.cond_expr);
                self.expr(&c.true_expr);
                self.expr(&c.false_expr);
            }
            Expression::Operation(op) => match op.as_ref() {
                Operation::Unary(u) => self.expr(&u.expr),
                Operation::Binary(b) => {
                    self.expr(&b.lhs_expr);
                    self.expr(&b.rhs_expr);
                }
            },
            Expression::ForExpr(f) => {
                self.expr(&f.collection_expr);
                let n = self.scope.len();
                self.scope.push(f.value_var.as_str().to_owned());
                if let Some(k) = &f.key_var {
                    self.scope.push(k.as_str().to_owned());
                }
                if let Some(k) = &f.key_expr {
                    self.expr(k);
                }
                self.expr(&f.value_expr);
                if let Some(c) = &f.cond_expr {
                    self.expr(c);
                }
                self.scope.truncate(n);
            }
            Expression::Array(items) => {
                for i in items {
                    self.expr(i);
                }
            }
            Expression::Object(obj) => {
                for (k, v) in obj {
                    if let ObjectKey::Expression(k) = k {
                        // `{ (local.key) = 1 }` evaluates the key; a bare
                        // `{ key = 1 }` parses as a Variable key: a name.
                        if !matches!(k, Expression::Variable(_)) {
                            self.expr(k);
                        }
                    }
                    self.expr(v);
                }
            }
            // Literals.
            _ => {}
        }
    }

    fn template(&mut self, tpl: &Template) {
        for e in tpl.elements() {
            match e {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.expr(&i.expr),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        self.expr(&d.cond_expr);
                        self.template(&d.true_template);
                        if let Some(f) = &d.false_template {
                            self.template(f);
                        }
                    }
                    Directive::For(d) => {
                        self.expr(&d.collection_expr);
                        let n = self.scope.len();
                        self.scope.push(d.value_var.as_str().to_owned());
                        if let Some(k) = &d.key_var {
                            self.scope.push(k.as_str().to_owned());
                        }
                        self.template(&d.template);
                        self.scope.truncate(n);
                    }
                },
            }
        }
    }

    fn root(&mut self, root: &str, ops: &[TraversalOperator]) {
        if root == "self"
            && !self.scope.iter().any(|s| s == "self")
            && let Some(target) = &self.enclosing
        {
            self.selves.push(Reference {
                target: target.clone(),
                place: self.place.clone(),
                own_declaration: false,
                rest: ops.to_vec(),
            });
            return;
        }
        if self.bound(root) {
            return;
        }
        let attrs: Vec<&str> = ops
            .iter()
            .map_while(|op| match op {
                TraversalOperator::GetAttr(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let needed = match root {
            "data" => 2,
            _ => 1,
        };
        if attrs.len() < needed {
            self.problems.push(format!(
                "`{root}` must be followed by {needed} attribute name(s) ({})",
                self.place
            ));
            return;
        }
        let target = match root {
            "data" => format!("data.{}.{}", attrs[0], attrs[1]),
            // var, local, module, and TYPE.NAME of a managed resource.
            _ => format!("{root}.{}", attrs[0]),
        };
        self.found.push(Reference {
            own_declaration: self.declaring.as_ref() == Some(&target),
            target,
            place: self.place.clone(),
            rest: ops[needed..].to_vec(),
        });
    }
}
