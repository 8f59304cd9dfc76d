//! One design of the configuration, as Terraform would instantiate it.
//!
//! Resources that exist only in some designs (`var.topology`) are counted
//! (`count = local.split ? 1 : 0`), take design-specific settings from
//! `dynamic` blocks whose `for_each` is empty or one element, and choose
//! values with conditionals on the design's locals. The rules are written
//! for one concrete deployment, so each design is checked on its instance:
//!
//! - a resource or data source whose `count` evaluates to 0 is dropped, one
//!   whose `count` is 1 loses it, and every `ADDRESS[0]` becomes `ADDRESS`
//!   (a count that does not evaluate, e.g. one on a sensitive input, stays);
//! - a `dynamic` block whose `for_each` evaluates to nothing is dropped, one
//!   with a single element becomes its plain block (when its content does
//!   not use the iterator);
//! - `COND ? A : B` becomes `A` or `B` wherever `COND` evaluates (in
//!   attributes, function arguments, arrays, objects and parentheses);
//! - `moved` blocks (addresses, not resources) are dropped.
//!
//! `refs` checks the whole configuration once; the rules check instances.

use std::collections::BTreeSet;

use hcl::expr::{Expression, ObjectKey, Operation, TemplateExpr, TraversalOperator};
use hcl::{Block, Body, Structure};

use crate::eval::Scenario;
use crate::hclx::{Config, TfFile, attr};

/// The instance of `config` under `sc` (whose variables fix the design).
pub fn instantiate(config: &Config, sc: &Scenario) -> Config {
    let mut once = BTreeSet::new();
    let mut files = Vec::new();
    for f in &config.files {
        let mut kept = Vec::new();
        for s in &f.body {
            match s {
                Structure::Block(b) if b.identifier() == "moved" => {}
                Structure::Block(b) if matches!(b.identifier(), "resource" | "data") => {
                    let address = match (b.identifier(), b.labels()) {
                        ("resource", [t, n]) => format!("{}.{}", t.as_str(), n.as_str()),
                        (_, [t, n]) => format!("data.{}.{}", t.as_str(), n.as_str()),
                        _ => String::new(),
                    };
                    let count = attr(b.body(), "count")
                        .and_then(|c| sc.eval(c).ok())
                        .as_ref()
                        .and_then(crate::eval::as_number)
                        .filter(|n| n.fract() == 0.0)
                        .map(|n| n as i64);
                    match count {
                        Some(0) => {}
                        Some(1) => {
                            once.insert(address);
                            let mut b = b.clone();
                            b.body = Body(
                                b.body
                                    .into_iter()
                                    .filter(|s| {
                                        !matches!(s, Structure::Attribute(a) if a.key() == "count")
                                    })
                                    .collect(),
                            );
                            kept.push(Structure::Block(block(&b, sc)));
                        }
                        _ => kept.push(Structure::Block(block(b, sc))),
                    }
                }
                Structure::Block(b) => kept.push(Structure::Block(block(b, sc))),
                Structure::Attribute(a) => {
                    let mut a = a.clone();
                    a.expr = expr(&a.expr, sc);
                    kept.push(Structure::Attribute(a));
                }
            }
        }
        files.push(TfFile {
            name: f.name.clone(),
            body: Body(kept),
        });
    }
    // Second pass: `ADDRESS[0]` of every resource that exists once is `ADDRESS`.
    for f in &mut files {
        f.body = strip_body(&f.body, &once);
    }
    Config { files }
}

fn strip_body(b: &Body, once: &BTreeSet<String>) -> Body {
    Body(
        b.iter()
            .map(|s| match s {
                Structure::Attribute(a) => {
                    let mut a = a.clone();
                    a.expr = strip(&a.expr, once);
                    Structure::Attribute(a)
                }
                Structure::Block(b) => {
                    let mut b = b.clone();
                    b.body = strip_body(&b.body, once);
                    Structure::Block(b)
                }
            })
            .collect(),
    )
}

/// `e` with `ADDRESS[0]` spelled `ADDRESS` for every address in `once`,
/// in traversals and inside string templates alike.
fn strip(e: &Expression, once: &BTreeSet<String>) -> Expression {
    let s = |e: &Expression| strip(e, once);
    match e {
        Expression::Traversal(t) => {
            let mut t = t.clone();
            t.expr = s(&t.expr);
            if let Expression::Variable(root) = &t.expr
                && let Some(TraversalOperator::GetAttr(name)) = t.operators.first()
                && once.contains(&format!("{}.{}", root.as_str(), name.as_str()))
                && is_zero_index(t.operators.get(1))
            {
                t.operators.remove(1);
            }
            t.operators = t
                .operators
                .iter()
                .map(|op| match op {
                    TraversalOperator::Index(i) => TraversalOperator::Index(s(i)),
                    other => other.clone(),
                })
                .collect();
            Expression::Traversal(t)
        }
        Expression::TemplateExpr(t) => {
            let mut text = match t.as_ref() {
                TemplateExpr::QuotedString(q) => q.clone(),
                TemplateExpr::Heredoc(h) => h.template.clone(),
            };
            for address in once {
                text = text.replace(&format!("{address}[0]"), address);
            }
            let mut t = t.clone();
            match t.as_mut() {
                TemplateExpr::QuotedString(q) => *q = text,
                TemplateExpr::Heredoc(h) => h.template = text,
            }
            Expression::TemplateExpr(t)
        }
        Expression::Conditional(c) => {
            let mut c = c.clone();
            c.cond_expr = s(&c.cond_expr);
            c.true_expr = s(&c.true_expr);
            c.false_expr = s(&c.false_expr);
            Expression::Conditional(c)
        }
        Expression::Parenthesis(inner) => Expression::Parenthesis(Box::new(s(inner))),
        Expression::FuncCall(f) => {
            let mut f = f.clone();
            f.args = f.args.iter().map(s).collect();
            Expression::FuncCall(f)
        }
        Expression::Array(items) => Expression::Array(items.iter().map(s).collect()),
        Expression::Object(o) => Expression::Object(
            o.iter()
                .map(|(k, v)| {
                    let k = match k {
                        ObjectKey::Expression(k) => ObjectKey::Expression(s(k)),
                        other => other.clone(),
                    };
                    (k, s(v))
                })
                .collect(),
        ),
        Expression::Operation(op) => Expression::Operation(Box::new(match op.as_ref() {
            Operation::Unary(u) => {
                let mut u = u.clone();
                u.expr = s(&u.expr);
                Operation::Unary(u)
            }
            Operation::Binary(b) => {
                let mut b = b.clone();
                b.lhs_expr = s(&b.lhs_expr);
                b.rhs_expr = s(&b.rhs_expr);
                Operation::Binary(b)
            }
        })),
        Expression::ForExpr(f) => {
            let mut f = f.clone();
            f.collection_expr = s(&f.collection_expr);
            f.key_expr = f.key_expr.as_ref().map(s);
            f.value_expr = s(&f.value_expr);
            f.cond_expr = f.cond_expr.as_ref().map(s);
            Expression::ForExpr(f)
        }
        other => other.clone(),
    }
}

fn block(b: &Block, sc: &Scenario) -> Block {
    let mut out = b.clone();
    out.body = body(&b.body, sc);
    out
}

fn body(b: &Body, sc: &Scenario) -> Body {
    let mut out = Vec::new();
    for s in b {
        match s {
            Structure::Attribute(a) => {
                let mut a = a.clone();
                a.expr = expr(&a.expr, sc);
                out.push(Structure::Attribute(a));
            }
            Structure::Block(d) if d.identifier() == "dynamic" => match dynamic(d, sc) {
                Dynamic::None => {}
                Dynamic::One(b) => out.push(Structure::Block(block(&b, sc))),
                Dynamic::Keep => out.push(Structure::Block(block(d, sc))),
            },
            Structure::Block(nested) => out.push(Structure::Block(block(nested, sc))),
        }
    }
    Body(out)
}

enum Dynamic {
    None,
    One(Block),
    Keep,
}

fn dynamic(d: &Block, sc: &Scenario) -> Dynamic {
    let Some(label) = d.labels().first().map(|l| l.as_str().to_owned()) else {
        return Dynamic::Keep;
    };
    let Some(n) = attr(d.body(), "for_each")
        .and_then(|e| sc.eval(e).ok())
        .and_then(|v| match v {
            hcl::Value::Array(a) => Some(a.len()),
            hcl::Value::Object(o) => Some(o.len()),
            _ => None,
        })
    else {
        return Dynamic::Keep;
    };
    let iterator = match attr(d.body(), "iterator") {
        Some(Expression::Variable(v)) => v.as_str().to_owned(),
        _ => label.clone(),
    };
    let Some(content) = d.body().blocks().find(|b| b.identifier() == "content") else {
        return Dynamic::Keep;
    };
    match n {
        0 => Dynamic::None,
        1 if !uses_iterator(content.body(), &iterator) => Dynamic::One(Block {
            identifier: hcl::Identifier::sanitized(&label),
            labels: Vec::new(),
            body: content.body.clone(),
        }),
        _ => Dynamic::Keep,
    }
}

/// Whether a dynamic block's content refers to its iterator (`env.value`).
fn uses_iterator(body: &Body, iterator: &str) -> bool {
    body.attributes().any(|a| {
        let text = a.expr().to_string();
        text.contains(&format!("{iterator}.key")) || text.contains(&format!("{iterator}.value"))
    }) || body.blocks().any(|b| uses_iterator(b.body(), iterator))
}

fn expr(e: &Expression, sc: &Scenario) -> Expression {
    match e {
        Expression::Conditional(c) => match sc.eval(&c.cond_expr) {
            Ok(hcl::Value::Bool(true)) => expr(&c.true_expr, sc),
            Ok(hcl::Value::Bool(false)) => expr(&c.false_expr, sc),
            _ => {
                let mut c = c.clone();
                c.true_expr = expr(&c.true_expr, sc);
                c.false_expr = expr(&c.false_expr, sc);
                Expression::Conditional(c)
            }
        },
        Expression::Parenthesis(inner) => match expr(inner, sc) {
            // `(A)` of a resolved conditional is just A.
            inner @ (Expression::Traversal(_)
            | Expression::String(_)
            | Expression::Number(_)
            | Expression::Bool(_)
            | Expression::Null
            | Expression::Variable(_)
            | Expression::TemplateExpr(_)
            | Expression::FuncCall(_)) => inner,
            inner => Expression::Parenthesis(Box::new(inner)),
        },
        Expression::FuncCall(f) => {
            let mut f = f.clone();
            f.args = f.args.iter().map(|a| expr(a, sc)).collect();
            Expression::FuncCall(f)
        }
        Expression::Array(items) => Expression::Array(items.iter().map(|i| expr(i, sc)).collect()),
        Expression::Object(o) => Expression::Object(
            o.iter()
                .map(|(k, v)| {
                    let k = match k {
                        ObjectKey::Expression(k) => ObjectKey::Expression(expr(k, sc)),
                        other => other.clone(),
                    };
                    (k, expr(v, sc))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_zero_index(op: Option<&TraversalOperator>) -> bool {
    match op {
        Some(TraversalOperator::LegacyIndex(0)) => true,
        Some(TraversalOperator::Index(Expression::Number(n))) => n.as_u64() == Some(0),
        _ => false,
    }
}
