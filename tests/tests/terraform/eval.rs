//! Evaluating the numbers that must agree across resources (deadlines,
//! concurrency) under several sets of inputs.
//!
//! A relation such as "ack deadline > JOB_DEADLINE_SECS" must hold for the
//! inputs an operator may choose, not only for today's defaults, so every
//! check runs, for each design (`var.topology`), under: the defaults plus
//! each `*.tfvars.example` of that design, the defaults alone, and every
//! number input moved far (× 3 + 1), which exposes a value hard-coded on
//! one side of a relation. A `*.auto.tfvars.example` (what deploy.sh
//! writes as `*.auto.tfvars`, which Terraform reads with any other file)
//! is part of every scenario, as the real file is part of every run.

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
    /// This scenario with every bool input on (`daily_mandala_enabled`,
    /// `bucket_public_read`, ...), so that an instance keeps the resources
    /// of every optional feature its design admits.
    pub fn every_option_on(&self, config: &Config) -> Scenario {
        let mut vars = self.vars.clone();
        for v in vars.values_mut() {
            if matches!(v, Value::Bool(_)) {
                *v = Value::Bool(true);
            }
        }
        let locals = evaluate_locals(config, &vars);
        Scenario {
            name: format!("{}, every option on", self.name),
            synthetic: self.synthetic,
            vars,
            locals,
        }
    }

    /// Evaluates `expr` (locals and variables known; resources are not).
    pub fn eval(&self, expr: &Expression) -> Result<Value, String> {
        let ctx = context(&self.vars, &self.locals);
        expr.evaluate(&ctx).map_err(|e| e.to_string())
    }
}

/// The designs `var.topology` admits, each checked on its own instance.
pub const TOPOLOGIES: &[&str] = &["single", "pubsub", "pubsub-split", "cloud-tasks"];

/// The scenarios of one design (`var.topology = topology`) for `config`
/// (in `dir`, for the example tfvars): for every `*.tfvars.example` that
/// chooses this design (or leaves the default that is it), the defaults
/// plus that example, and the same with every number moved; and the
/// defaults alone with this design.
pub fn scenarios(config: &Config, dir: &Path, topology: &str) -> Result<Vec<Scenario>, String> {
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
    for (_, auto) in auto_examples(dir)? {
        defaults.extend(auto);
    }
    let chosen = |values: &hcl::Map<String, Value>| {
        values
            .get("topology")
            .or_else(|| defaults.get("topology"))
            .and_then(as_text)
    };
    let examples: Vec<Example> = examples(dir)?
        .into_iter()
        .filter(|(_, values)| chosen(values).as_deref() == Some(topology))
        .collect();
    let Some((_, first)) = examples.first() else {
        return Err(format!(
            "no *.tfvars.example in {} chooses topology = {topology:?}: each design needs an example the variable plan checks",
            dir.display()
        ));
    };

    // Defaults alone, filling only what has no default from an example.
    let mut defaults_only = defaults.clone();
    for (k, v) in first {
        defaults_only.entry(k.clone()).or_insert_with(|| v.clone());
    }
    defaults_only.insert("topology".to_owned(), Value::from(topology));

    let mut sets = Vec::new();
    for (name, example) in &examples {
        let mut with_example = defaults.clone();
        with_example.extend(example.clone());
        with_example.insert("topology".to_owned(), Value::from(topology));
        sets.push((format!("defaults + {name}"), with_example, false));
    }
    sets.push(("defaults".to_owned(), defaults_only, false));
    for (name, example) in &examples {
        let mut moved = defaults.clone();
        moved.extend(example.clone());
        for v in moved.values_mut() {
            if let Value::Number(n) = v
                && let Some(f) = n.as_f64()
            {
                *v = Value::from(f as i64 * 3 + 1);
            }
        }
        moved.insert("topology".to_owned(), Value::from(topology));
        sets.push((format!("every number input × 3 + 1 ({name})"), moved, true));
    }

    let mut out = Vec::new();
    for (name, vars, synthetic) in sets {
        let locals = evaluate_locals(config, &vars);
        out.push(Scenario {
            name,
            synthetic,
            vars,
            locals,
        });
    }
    Ok(out)
}

/// Names the examples set that no variable declares (Terraform only warns).
pub fn undeclared_example_values(config: &Config, dir: &Path) -> Vec<String> {
    let declared = config.variables();
    let all = examples(dir).and_then(|mut e| {
        e.extend(auto_examples(dir)?);
        Ok(e)
    });
    match all {
        Ok(all) => all
            .iter()
            .flat_map(|(file, values)| {
                values
                    .keys()
                    .filter(|k| !declared.contains_key(k.as_str()))
                    .map(move |k| format!("{file} sets {k}, which is not a variable"))
            })
            .collect(),
        Err(e) => vec![e],
    }
}

/// One example tfvars file: its name and values.
type Example = (String, hcl::Map<String, Value>);

/// Every `*.tfvars.example` of `dir` but the auto ones (sorted by name),
/// with its values.
fn examples(dir: &Path) -> Result<Vec<Example>, String> {
    let names = example_names(dir, |n| !is_auto(n))?;
    if names.is_empty() {
        return Err(format!("no *.tfvars.example in {}", dir.display()));
    }
    names
        .into_iter()
        .map(|n| example_values(&dir.join(&n)).map(|v| (n, v)))
        .collect()
}

/// Every `*.auto.tfvars.example` of `dir`, with its values.
fn auto_examples(dir: &Path) -> Result<Vec<Example>, String> {
    example_names(dir, is_auto)?
        .into_iter()
        .map(|n| example_values(&dir.join(&n)).map(|v| (n, v)))
        .collect()
}

fn is_auto(name: &str) -> bool {
    name.ends_with(".auto.tfvars.example")
}

fn example_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tfvars.example") && keep(n))
        .collect();
    names.sort();
    Ok(names)
}

fn example_values(path: &Path) -> Result<hcl::Map<String, Value>, String> {
    let text = std::fs::read_to_string(path)
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
        "coalesce",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(|args| {
                args.variadic_args()
                    .find(|v| !matches!(v, Value::Null))
                    .cloned()
                    .ok_or_else(|| "coalesce: no non-null argument".to_owned())
            }),
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
