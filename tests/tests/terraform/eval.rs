//! Evaluating the numbers that must agree across resources (deadlines,
//! concurrency) under several sets of inputs.
//!
//! A relation such as "ack deadline > JOB_DEADLINE_SECS" must hold for the
//! inputs an operator may choose, not only for today's defaults, so every
//! check runs under: the defaults plus `terraform.tfvars.example`, the
//! defaults alone, and every number input moved far (× 3 + 1), which
//! exposes a value hard-coded on one side of a relation.

use std::path::Path;

use hcl::Value;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::Expression;

use crate::hclx::{Config, attr};

/// One set of input values, and the local values they determine.
pub struct Scenario {
    pub name: String,
    /// Inputs no operator chose (moved to expose hard-coded values): good
    /// for relations between values, not for absolute limits.
    pub synthetic: bool,
    vars: hcl::Map<String, Value>,
    locals: hcl::Map<String, Value>,
}

impl Scenario {
    /// Evaluates `expr` (locals and variables known; resources are not).
    pub fn eval(&self, expr: &Expression) -> Result<Value, String> {
        let ctx = context(&self.vars, &self.locals);
        expr.evaluate(&ctx).map_err(|e| e.to_string())
    }
}

/// The scenarios for `config` (in `dir`, for the example tfvars).
pub fn scenarios(config: &Config, dir: &Path) -> Result<Vec<Scenario>, String> {
    let mut defaults = hcl::Map::new();
    let empty = Context::new();
    for (name, (_, body)) in config.variables() {
        if let Some(d) = attr(body, "default") {
            let v = d
                .evaluate(&empty)
                .map_err(|e| format!("default of var.{name} does not evaluate: {e}"))?;
            defaults.insert(name.to_owned(), v);
        }
    }
    let example = example_values(dir)?;

    let mut with_example = defaults.clone();
    with_example.extend(example.clone());

    // Defaults alone, filling only what has no default from the example.
    let mut defaults_only = defaults.clone();
    for (k, v) in &example {
        defaults_only.entry(k.clone()).or_insert_with(|| v.clone());
    }

    let mut moved = with_example.clone();
    for v in moved.values_mut() {
        if let Value::Number(n) = v
            && let Some(f) = n.as_f64()
        {
            *v = Value::from(f as i64 * 3 + 1);
        }
    }

    let mut out = Vec::new();
    for (name, vars, synthetic) in [
        ("defaults + terraform.tfvars.example", with_example, false),
        ("defaults", defaults_only, false),
        ("every number input × 3 + 1", moved, true),
    ] {
        let locals = evaluate_locals(config, &vars);
        out.push(Scenario {
            name: name.to_owned(),
            synthetic,
            vars,
            locals,
        });
    }
    Ok(out)
}

/// Names the example sets that no variable declares (Terraform only warns).
pub fn undeclared_example_values(config: &Config, dir: &Path) -> Vec<String> {
    let declared = config.variables();
    match example_values(dir) {
        Ok(values) => values
            .keys()
            .filter(|k| !declared.contains_key(k.as_str()))
            .map(|k| format!("terraform.tfvars.example sets {k}, which is not a variable"))
            .collect(),
        Err(e) => vec![e],
    }
}

fn example_values(dir: &Path) -> Result<hcl::Map<String, Value>, String> {
    let path = dir.join("terraform.tfvars.example");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let body = hcl::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let empty = Context::new();
    let mut out = hcl::Map::new();
    for a in body.attributes() {
        let v = a
            .expr()
            .evaluate(&empty)
            .map_err(|e| format!("{}: {} does not evaluate: {e}", path.display(), a.key()))?;
        out.insert(a.key().to_owned(), v);
    }
    Ok(out)
}

/// Locals that can be computed from variables alone (those that depend on
/// resources or data sources stay unknown).
fn evaluate_locals(config: &Config, vars: &hcl::Map<String, Value>) -> hcl::Map<String, Value> {
    let defs = config.locals();
    let mut known = hcl::Map::new();
    loop {
        let ctx = context(vars, &known);
        let mut progressed = false;
        for (name, expr) in &defs {
            if known.contains_key(*name) {
                continue;
            }
            if let Ok(v) = expr.evaluate(&ctx) {
                known.insert((*name).to_owned(), v);
                progressed = true;
            }
        }
        if !progressed {
            return known;
        }
    }
}

fn context<'a>(vars: &hcl::Map<String, Value>, locals: &hcl::Map<String, Value>) -> Context<'a> {
    let mut ctx = Context::new();
    ctx.declare_var("var", Value::Object(vars.clone()));
    ctx.declare_var("local", Value::Object(locals.clone()));
    ctx.declare_func(
        "tostring",
        FuncDef::builder().param(ParamType::Any).build(tostring),
    );
    ctx.declare_func(
        "tonumber",
        FuncDef::builder().param(ParamType::Any).build(tonumber),
    );
    ctx.declare_func(
        "min",
        FuncDef::builder()
            .variadic_param(ParamType::Number)
            .build(|args| fold_numbers(&args, f64::min)),
    );
    ctx.declare_func(
        "max",
        FuncDef::builder()
            .variadic_param(ParamType::Number)
            .build(|args| fold_numbers(&args, f64::max)),
    );
    ctx
}

// hcl-rs calls functions as `fn(FuncArgs)`.
#[allow(clippy::needless_pass_by_value)]
fn tostring(args: FuncArgs) -> Result<Value, String> {
    as_text(&args[0])
        .map(Value::String)
        .ok_or_else(|| format!("tostring: cannot convert {:?}", args[0]))
}

#[allow(clippy::needless_pass_by_value)]
fn tonumber(args: FuncArgs) -> Result<Value, String> {
    as_number(&args[0])
        .map(number)
        .ok_or_else(|| format!("tonumber: cannot convert {:?}", args[0]))
}

fn fold_numbers(args: &FuncArgs, f: fn(f64, f64) -> f64) -> Result<Value, String> {
    args.variadic_args()
        .map(|v| as_number(v).ok_or("not a number"))
        .try_fold(None, |acc: Option<f64>, n| {
            n.map(|n| Some(acc.map_or(n, |a| f(a, n))))
        })
        .map_err(str::to_owned)?
        .map(number)
        .ok_or_else(|| "no arguments".to_owned())
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// A number or a string holding one, as Terraform converts them.
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string, number or bool as text.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Seconds of a Google duration string (`"55s"`) or a plain number.
pub fn as_seconds(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.strip_suffix('s').unwrap_or(s).parse().ok(),
        other => as_number(other),
    }
}
