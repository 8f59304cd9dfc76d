//! The google provider's schema, as `deploy/tfschema.py` derives it from
//! the PyPI packages `cdktn-provider-google` (generated from that schema),
//! and the releases the version pin in `versions.tf` admits.
//!
//! `.ci/run` downloads the wheels pinned in `tests/provider-schemas.txt`
//! into `.venv/provider-schemas/`; the first test that needs a schema runs
//! the derivation there (a no-op when the JSON is newer than the wheel and
//! the script), so a change to `tfschema.py` cannot leave a stale schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::hclx::{Config, attr, body_at};

/// The JSON format `deploy/tfschema.py` writes (its `FORMAT`).
const FORMAT: u32 = 1;

/// One provider release's schema.
#[derive(Debug, Deserialize)]
pub struct Schema {
    pub format: u32,
    /// `7.40.0`
    pub version: String,
    /// `cdktn-provider-google 19.9.0`
    pub source: String,
    /// Names the derivation could not read from the package and guessed
    /// from camelCase (none, so far).
    pub guessed_names: Vec<String>,
    pub resources: BTreeMap<String, Block>,
    pub data_sources: BTreeMap<String, Block>,
}

/// The body of a resource, a data source or a nested block.
#[derive(Debug, Deserialize)]
pub struct Block {
    pub attributes: BTreeMap<String, Attribute>,
    pub blocks: BTreeMap<String, NestedBlock>,
}

#[derive(Debug, Deserialize)]
pub struct Attribute {
    pub mode: Mode,
    #[serde(rename = "type")]
    pub ty: Type,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Required,
    Optional,
    /// Set by the provider only; a configuration may not set it.
    Computed,
}

#[derive(Debug, Deserialize)]
pub struct NestedBlock {
    /// At least one must be written.
    pub required: bool,
    /// May be repeated (otherwise at most one).
    pub list: bool,
    pub block: Block,
}

/// A value's type, as far as references need it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Type {
    /// `string`, `number`, `bool` or `any`.
    Primitive(String),
    List {
        list: Box<Type>,
    },
    Map {
        map: Box<Type>,
    },
    Object {
        object: BTreeMap<String, Type>,
    },
}

/// Where `.ci/run` downloads the wheels, and the schemas are derived.
pub fn schema_dir(root: &Path) -> PathBuf {
    root.join(".venv/provider-schemas")
}

/// The `cdktn-provider-google` versions `tests/provider-schemas.txt` pins.
pub fn pinned_packages(root: &Path) -> Result<Vec<String>, String> {
    let file = root.join("tests/provider-schemas.txt");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let pins: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.strip_prefix("cdktn-provider-google==")
                .map(str::to_owned)
                .ok_or_else(|| {
                    format!(
                        "{}: not a cdktn-provider-google==VERSION pin: {l}",
                        file.display()
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    if pins.is_empty() {
        return Err(format!("{} pins no package", file.display()));
    }
    Ok(pins)
}

/// The pinned wheels, or why they are not all there (for a loud skip).
pub fn wheels(root: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = schema_dir(root);
    let pins = pinned_packages(root)?;
    let wheels: Vec<PathBuf> = pins
        .iter()
        .map(|v| dir.join(format!("cdktn_provider_google-{v}-py3-none-any.whl")))
        .collect();
    let missing: Vec<String> = wheels
        .iter()
        .filter(|w| !w.exists())
        .map(|w| w.display().to_string())
        .collect();
    if missing.is_empty() {
        Ok(wheels)
    } else {
        Err(format!(
            "missing {} (.ci/run downloads tests/provider-schemas.txt)",
            missing.join(", ")
        ))
    }
}

/// Derives (when stale) and loads the schema of every wheel, oldest
/// provider release first. A failure here is a real problem: the wheels
/// are present but yield no schema.
pub fn load(root: &Path, wheels: &[PathBuf]) -> Result<Vec<Schema>, String> {
    let dir = schema_dir(root);
    let out = Command::new("python3")
        .arg(root.join("deploy/tfschema.py"))
        .arg("derive")
        .args(wheels)
        .arg("--out")
        .arg(&dir)
        .output()
        .map_err(|e| format!("cannot run python3 deploy/tfschema.py: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "deploy/tfschema.py derive failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut schemas = Vec::new();
    for wheel in wheels {
        let stem = wheel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!("{stem}.schema.json"));
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let schema: Schema =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if schema.format != FORMAT {
            return Err(format!(
                "{}: format {} (expected {FORMAT})",
                path.display(),
                schema.format
            ));
        }
        schemas.push(schema);
    }
    schemas.sort_by_key(|s| version(&s.version));
    Ok(schemas)
}

/// A release: major, minor, patch.
pub type Version = [u64; 3];

/// The releases a constraint admits: from `low` (inclusive) to `high`
/// (exclusive); `None` for an open end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub low: Option<Version>,
    pub high: Option<Version>,
}

/// `7.40` -> [7, 40, 0].
pub fn version(v: &str) -> Version {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.trim().split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    out
}

fn show(v: Version) -> String {
    format!("{}.{}.{}", v[0], v[1], v[2])
}

/// The google provider's version constraint in `required_providers`.
pub fn provider_pin(config: &Config) -> Option<String> {
    config.top_blocks("terraform").find_map(|(_, t)| {
        let providers = body_at(t.body(), &["required_providers"])?;
        let hcl::Expression::Object(google) = attr(providers, "google")? else {
            return None;
        };
        google.iter().find_map(|(k, v)| match (key_name(k), v) {
            (Some("version"), hcl::Expression::String(s)) => Some(s.clone()),
            _ => None,
        })
    })
}

/// The name of an object key written as a bare name or a string.
fn key_name(k: &hcl::ObjectKey) -> Option<&str> {
    match k {
        hcl::ObjectKey::Identifier(id) => Some(id.as_str()),
        hcl::ObjectKey::Expression(hcl::Expression::Variable(v)) => Some(v.as_str()),
        hcl::ObjectKey::Expression(hcl::Expression::String(s)) => Some(s),
        _ => None,
    }
}

/// The releases a constraint admits, as [lowest, first excluded): `~> 7.40`
/// is [7.40.0, 8.0.0), `>= 7.40, < 8` the same. `None` for an open end.
pub fn admitted(constraint: &str) -> Result<Admitted, String> {
    let (mut low, mut high): (Option<Version>, Option<Version>) = (None, None);
    let raise = |low: &mut Option<Version>, v| *low = Some(low.map_or(v, |l: Version| l.max(v)));
    let lower = |high: &mut Option<Version>, v| *high = Some(high.map_or(v, |h: Version| h.min(v)));
    for part in constraint.split(',').map(str::trim) {
        let (op, v) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|v| (*op, v.trim())))
            .unwrap_or(("=", part));
        let parts = v.split('.').count();
        let v3 = version(v);
        match op {
            "~>" => {
                raise(&mut low, v3);
                // `~> 7.40` allows the last given part to grow: < 8.0.0;
                // `~> 7.40.1`: < 7.41.0.
                let bump = if parts >= 3 {
                    [v3[0], v3[1] + 1, 0]
                } else {
                    [v3[0] + 1, 0, 0]
                };
                lower(&mut high, bump);
            }
            ">=" => raise(&mut low, v3),
            "<" => lower(&mut high, v3),
            "=" => {
                raise(&mut low, v3);
                lower(&mut high, [v3[0], v3[1], v3[2] + 1]);
            }
            _ => {
                return Err(format!(
                    "`{part}`: use ~>, >= and < so the checked releases are the bounds"
                ));
            }
        }
    }
    Ok(Admitted { low, high })
}

/// Problems with the pin: it must admit exactly the 7.x releases from the
/// oldest schema on, and the newest schema must be one of them.
pub fn check_pin(config: &Config, schemas: &[Schema]) -> Vec<String> {
    let (Some(oldest), Some(newest)) = (schemas.first(), schemas.last()) else {
        return vec!["no provider schema to check the pin against".to_owned()];
    };
    let Some(pin) = provider_pin(config) else {
        return vec!["versions.tf: required_providers.google has no version constraint".to_owned()];
    };
    let Admitted { low, high } = match admitted(&pin) {
        Ok(range) => range,
        Err(e) => return vec![format!("versions.tf: google version {pin:?}: {e}")],
    };
    let (old, new) = (version(&oldest.version), version(&newest.version));
    let mut problems = Vec::new();
    match low {
        None => problems.push(format!(
            "versions.tf: google version {pin:?} has no lower bound; the oldest release checked is {}",
            oldest.version
        )),
        Some(l) if l < old => problems.push(format!(
            "versions.tf: google version {pin:?} admits {}, older than the oldest release whose schema is checked ({}): tighten it to \"~> {}.{}\" or add an older cdktn-provider-google to tests/provider-schemas.txt",
            show(l),
            oldest.version,
            old[0],
            old[1]
        )),
        Some(l) if l > old => problems.push(format!(
            "versions.tf: google version {pin:?} no longer admits {}, whose schema is checked as the oldest: pin the cdktn-provider-google that wraps {} in tests/provider-schemas.txt instead",
            oldest.version,
            show(l)
        )),
        Some(_) => {}
    }
    match high {
        Some(h) if h <= [old[0] + 1, 0, 0] => {
            if new >= h {
                problems.push(format!(
                    "versions.tf: google version {pin:?} excludes {}, the newest release checked ({})",
                    newest.version, newest.source
                ));
            }
        }
        _ => problems.push(format!(
            "versions.tf: google version {pin:?} admits major releases after {}.x, whose schemas are not checked",
            old[0]
        )),
    }
    problems
}
