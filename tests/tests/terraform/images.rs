//! The container build: `deploy/Dockerfile` builds exactly the binaries the
//! Cargo workspace defines and Cloud Run runs, one non-root image target
//! per binary (named after it), on a Rust at least the packages'
//! `rust-version` and the same Debian release as the runtime image, and
//! `deploy/cloudbuild.yaml` builds and pushes each of those targets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The workspace's binary targets (name to package), from `cargo metadata`.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub bins: BTreeMap<String, String>,
    pub packages: BTreeSet<String>,
    /// Each package's `rust-version` (minimum supported Rust).
    pub rust_versions: BTreeMap<String, String>,
    /// Every member's `Cargo.toml`, relative to the workspace root.
    pub manifests: Vec<String>,
}

impl Workspace {
    /// Reads `cargo metadata --no-deps` of the workspace at `root`.
    pub fn load(root: &Path) -> Result<Workspace, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--offline",
            ])
            .current_dir(root)
            .output()
            .map_err(|e| format!("cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
        let mut ws = Workspace::default();
        let root = std::fs::canonicalize(root).map_err(|e| e.to_string())?;
        for p in meta["packages"].as_array().into_iter().flatten() {
            let package = p["name"].as_str().unwrap_or_default().to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                let is_bin = t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"));
                if is_bin && let Some(name) = t["name"].as_str() {
                    ws.bins.insert(name.to_owned(), package.clone());
                }
            }
            if let Some(v) = p["rust_version"].as_str() {
                ws.rust_versions.insert(package.clone(), v.to_owned());
            }
            if let Some(m) = p["manifest_path"].as_str()
                && let Ok(rel) = Path::new(m).strip_prefix(&root)
            {
                ws.manifests.push(rel.to_string_lossy().into_owned());
            }
            ws.packages.insert(package);
        }
        Ok(ws)
    }
}

/// One `FROM` stage of a Dockerfile.
#[derive(Debug, Default)]
struct Stage {
    name: Option<String>,
    base: String,
    runs: Vec<String>,
    copies: Vec<String>,
    entrypoint: Option<String>,
    user: Option<String>,
}

/// Instructions with continuation lines joined and comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn stages(text: &str) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::new();
    for ins in instructions(text) {
        let (word, rest) = ins.split_once(char::is_whitespace).unwrap_or((&ins, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "FROM" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let name = match words.as_slice() {
                    [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some((*n).to_owned()),
                    _ => None,
                };
                out.push(Stage {
                    name,
                    base: words.first().copied().unwrap_or_default().to_owned(),
                    ..Stage::default()
                });
            }
            "RUN" => out
                .last_mut()
                .into_iter()
                .for_each(|s| s.runs.push(rest.to_owned())),
            "COPY" => out
                .last_mut()
                .into_iter()
                .for_each(|s| s.copies.push(rest.to_owned())),
            "USER" => out
                .last_mut()
                .into_iter()
                .for_each(|s| s.user = Some(rest.to_owned())),
            "ENTRYPOINT" => {
                let first = serde_json::from_str::<Vec<String>>(rest)
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .or_else(|| rest.split_whitespace().next().map(str::to_owned));
                if let Some(s) = out.last_mut() {
                    s.entrypoint = first;
                }
            }
            _ => {}
        }
    }
    out
}

/// `ARG NAME=default` values before and between stages.
fn arg_defaults(text: &str) -> BTreeMap<String, String> {
    instructions(text)
        .iter()
        .filter_map(|i| i.strip_prefix("ARG "))
        .filter_map(|a| a.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// Every stage starts from an earlier stage or from an image pinned by
/// digest (`@sha256:` and 64 hex digits, after `ARG` defaults are put
/// in): a tag can be moved, and a rebuild of the same commit would start
/// from other bytes.
fn pinned_bases(text: &str, stages: &[Stage]) -> Vec<String> {
    let args = arg_defaults(text);
    let mut problems = Vec::new();
    let mut earlier: Vec<&str> = Vec::new();
    for s in stages {
        let mut base = s.base.clone();
        for (k, v) in &args {
            base = base
                .replace(&format!("${{{k}}}"), v)
                .replace(&format!("${k}"), v);
        }
        let pinned = base.split_once("@sha256:").is_some_and(|(_, d)| {
            d.len() == 64
                && d.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if !earlier.contains(&base.as_str()) && !pinned {
            problems.push(format!(
                "Dockerfile: stage {} starts from {base}, which is not pinned by digest (IMAGE@sha256:...)",
                s.name.as_deref().unwrap_or("(unnamed)")
            ));
        }
        if let Some(n) = &s.name {
            earlier.push(n);
        }
    }
    problems
}

/// `1.95` as (1, 95), for comparing Rust versions.
fn version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The builder's Rust is new enough for every package it builds, and its
/// Debian release is the one the runtime image is built on (glibc).
fn toolchain(text: &str, built_packages: &BTreeSet<String>, ws: &Workspace) -> Vec<String> {
    let mut problems = Vec::new();
    let args = arg_defaults(text);
    match args.get("RUST_VERSION").and_then(|v| version(v)) {
        None => {
            problems
                .push("Dockerfile: ARG RUST_VERSION=X.Y must pin the builder's Rust".to_owned());
        }
        Some(have) => {
            for p in built_packages {
                if let Some(need) = ws.rust_versions.get(p).and_then(|v| version(v))
                    && have < need
                {
                    problems.push(format!(
                        "Dockerfile builds with Rust {}.{} but {p} needs rust-version {}.{}",
                        have.0, have.1, need.0, need.1
                    ));
                }
            }
        }
    }
    let debian = args.get("DEBIAN_RELEASE").map(String::as_str);
    let runtime = args
        .get("RUNTIME_IMAGE")
        .map(String::as_str)
        .unwrap_or_default();
    let expected = match debian {
        Some("bookworm") => Some("debian12"),
        Some("trixie") => Some("debian13"),
        _ => None,
    };
    match expected {
        Some(e) if runtime.contains(e) => {}
        _ => problems.push(format!(
            "Dockerfile: the builder's Debian ({debian:?}) and the runtime image ({runtime:?}) must be the same release"
        )),
    }
    problems
}

/// Whether a `.dockerignore` pattern excludes `path` (a `/`-separated path
/// relative to the context): literal prefixes, `*` within one segment and a
/// leading `**/` for any depth, which is all this repository uses.
fn ignored(pattern: &str, path: &str) -> bool {
    fn seg(p: &str, s: &str) -> bool {
        match p.split_once('*') {
            None => p == s,
            Some((head, tail)) => {
                s.starts_with(head)
                    && (0..=s.len() - head.len()).any(|i| seg(tail, &s[head.len() + i..]))
            }
        }
    }
    fn from(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, _) => true, // a directory pattern excludes what is under it
            (Some(&"**"), _) => (0..=s.len()).any(|i| from(&p[1..], &s[i..])),
            (Some(_), None) => false,
            (Some(a), Some(b)) => seg(a, b) && from(&p[1..], &s[1..]),
        }
    }
    let pattern = pattern.trim().trim_start_matches('/').trim_end_matches('/');
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    from(&p, &s)
}

/// The workspace's build settings, which every compiling stage must see.
const BUILD_SETTINGS: &str = ".cargo/config.toml";

/// `.dockerignore` keeps every file cargo needs to load the workspace, and
/// its build settings when there are any.
fn context(root: &Path, ws: &Workspace) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join(".dockerignore")) else {
        return vec![
            "no .dockerignore: the build context would include target/ and .git".to_owned(),
        ];
    };
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .collect();
    const TO_LOAD: &str = "which cargo needs to load the workspace";
    let mut needed: Vec<(String, &str)> = ["Cargo.toml", "Cargo.lock", "deploy/Dockerfile"]
        .into_iter()
        .map(str::to_owned)
        .chain(ws.manifests.iter().cloned())
        .map(|path| (path, TO_LOAD))
        .collect();
    if root.join(BUILD_SETTINGS).is_file() {
        needed.push((BUILD_SETTINGS.to_owned(), "the workspace's build settings"));
    }
    let mut problems = Vec::new();
    for (path, why) in needed {
        if let Some(p) = patterns.iter().find(|p| ignored(p, &path)) {
            problems.push(format!(
                ".dockerignore pattern {p:?} excludes {path}, {why}"
            ));
        }
    }
    if !patterns.iter().any(|p| ignored(p, "target/release")) {
        problems.push(".dockerignore must exclude target/ (gigabytes of build output)".to_owned());
    }
    problems
}

/// When the workspace has build settings in `.cargo/config.toml` (the
/// Ed25519 backend choice), every stage that compiles must have copied them
/// in first: else images are built without them and nothing fails.
/// ([`context`] checks that `.dockerignore` keeps them.)
fn build_settings(root: &Path, text: &str) -> Vec<String> {
    if !root.join(BUILD_SETTINGS).is_file() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let mut stage = String::new();
    let mut has_config = false;
    for ins in instructions(text) {
        let (word, rest) = ins.split_once(char::is_whitespace).unwrap_or((&ins, ""));
        match word.to_ascii_uppercase().as_str() {
            "FROM" => {
                rest.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .clone_into(&mut stage);
                // Conservative: a stage built on another may inherit the
                // file, but only a COPY in this stage is taken as proof.
                has_config = false;
            }
            "COPY" if !rest.contains("--from=") => {
                let sources: Vec<&str> = rest.split_whitespace().collect();
                let sources = &sources[..sources.len().saturating_sub(1)];
                has_config |= sources.iter().any(|s| {
                    matches!(
                        s.trim_end_matches('/'),
                        "." | ".cargo" | ".cargo/config.toml"
                    )
                });
            }
            "RUN"
                if (rest.contains("cargo build") || rest.contains("cargo chef cook"))
                    && !has_config =>
            {
                problems.push(format!(
                    "Dockerfile: stage {stage} compiles (`{rest}`) before {BUILD_SETTINGS} is copied in, so its build settings are lost"
                ));
            }
            _ => {}
        }
    }
    problems
}

/// Values of `--flag X` / `--flag=X` / `-f X` in a shell command.
fn flag_values(cmd: &str, long: &str, short: Option<&str>) -> Vec<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if let Some(v) = w.strip_prefix(&format!("{long}=")) {
            out.push(v.to_owned());
        } else if (*w == long || Some(*w) == short)
            && let Some(v) = words.get(i + 1)
        {
            out.push((*v).to_owned());
        }
    }
    out
}

/// Problems with `deploy/Dockerfile` and `deploy/cloudbuild.yaml` under
/// `root`, given the binaries Cloud Run runs in any design: the one build
/// ships exactly those images, for every design.
pub fn check(root: &Path, deployed: &BTreeSet<String>, ws: &Workspace) -> Vec<String> {
    let mut problems = Vec::new();
    let dockerfile = root.join("deploy/Dockerfile");
    let text = match std::fs::read_to_string(&dockerfile) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read {}: {e}", dockerfile.display())],
    };
    let stages = stages(&text);

    // What `cargo build` builds.
    let mut built = BTreeSet::new();
    let mut built_packages = BTreeSet::new();
    for cmd in stages
        .iter()
        .flat_map(|s| &s.runs)
        .filter(|r| r.contains("cargo build"))
    {
        let bins = flag_values(cmd, "--bin", None);
        let packages = flag_values(cmd, "--package", Some("-p"));
        if bins.is_empty() {
            problems.push(format!(
                "Dockerfile: `{cmd}` must name its binaries with --bin (else it builds every binary of the workspace)"
            ));
        }
        built_packages.extend(packages.iter().cloned());
        for p in &packages {
            if !ws.packages.contains(p) {
                problems.push(format!(
                    "Dockerfile builds package {p}, which is not a workspace package"
                ));
            }
        }
        for b in bins {
            match ws.bins.get(&b) {
                None => problems.push(format!(
                    "Dockerfile builds binary {b}, which no workspace package defines (binaries: {:?})",
                    ws.bins.keys().collect::<Vec<_>>()
                )),
                Some(p) if !packages.is_empty() && !packages.contains(p) => problems.push(format!(
                    "Dockerfile builds binary {b} but not its package {p} (-p {p})"
                )),
                Some(_) => {}
            }
            built.insert(b);
        }
    }

    problems.extend(toolchain(&text, &built_packages, ws));
    problems.extend(context(root, ws));
    problems.extend(build_settings(root, &text));
    problems.extend(pinned_bases(&text, &stages));

    // One image target per binary, named after it.
    let mut shipped = BTreeSet::new();
    for s in stages.iter().filter(|s| s.entrypoint.is_some()) {
        let entry = s.entrypoint.as_deref().unwrap_or_default();
        let bin = entry.rsplit('/').next().unwrap_or(entry).to_owned();
        let stage = s.name.clone().unwrap_or_default();
        if stage != bin {
            problems.push(format!(
                "Dockerfile: the stage running {bin} is named {stage:?}; name it {bin} so `--target {bin}` builds image {bin}"
            ));
        }
        if !built.contains(&bin) {
            problems.push(format!(
                "Dockerfile: stage {stage} runs {bin}, which no `cargo build --bin` builds"
            ));
        }
        if !s
            .copies
            .iter()
            .any(|c| c.contains("--from=") && c.contains(&format!("release/{bin} ")))
        {
            problems.push(format!(
                "Dockerfile: stage {stage} does not copy target/release/{bin} from the build stage"
            ));
        }
        let root_user = match &s.user {
            Some(u) => matches!(u.split(':').next(), Some("root" | "0")),
            None => !s.base.contains("nonroot"),
        };
        if root_user {
            problems.push(format!(
                "Dockerfile: stage {stage} runs as root; use a nonroot base or USER"
            ));
        }
        shipped.insert(bin);
    }
    for b in built.difference(&shipped) {
        problems.push(format!("Dockerfile builds {b} but no image stage runs it"));
    }
    // One build serves every design: each image it ships runs in some design.
    for b in shipped.difference(deployed) {
        problems.push(format!(
            "the Dockerfile ships {b}, but no design (topology) runs it on Cloud Run"
        ));
    }
    for b in deployed {
        if !shipped.contains(b) {
            problems.push(format!(
                "Cloud Run runs image {b}, but the Dockerfile has no target {b}"
            ));
        }
        if !ws.bins.contains_key(b) {
            problems.push(format!(
                "Cloud Run runs {b}, which is not a binary of the workspace"
            ));
        }
    }

    // Cloud Build builds and pushes each target.
    let cloudbuild = root.join("deploy/cloudbuild.yaml");
    match std::fs::read_to_string(&cloudbuild) {
        Err(e) => problems.push(format!("cannot read {}: {e}", cloudbuild.display())),
        Ok(cb) => {
            let targets: BTreeSet<String> = cb
                .split(|c: char| {
                    c.is_whitespace() || c == '\'' || c == '"' || c == ',' || c == '[' || c == ']'
                })
                .filter_map(|w| w.strip_prefix("--target="))
                .map(str::to_owned)
                .collect();
            for t in &targets {
                if !shipped.contains(t) {
                    problems.push(format!(
                        "cloudbuild.yaml builds --target={t}, which the Dockerfile does not define"
                    ));
                }
            }
            for b in &shipped {
                if !targets.contains(b) {
                    problems.push(format!("cloudbuild.yaml does not build --target={b}"));
                }
                if cb.matches(&format!("/{b}:")).count() < 2 {
                    problems.push(format!(
                        "cloudbuild.yaml must tag image .../{b}:TAG and list it under images"
                    ));
                }
            }
        }
    }
    problems
}
