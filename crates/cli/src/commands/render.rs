//! `mandala render`: one mandala to a file, its resolved spec to stdout.
//!
//! The spec comes from `--spec` JSON overlaid with the flags, or — with
//! `--from` — from the spec embedded in a PNG, WebP or SVG this command or
//! the bot made (one mandala, or a grid of four), which re-renders that
//! image exactly. Without a seed a random one is drawn from the OS and shows
//! up in the printed spec. The file is written to a
//! temporary name beside the target and renamed, so a failure never leaves a
//! partial image behind.

use std::path::{Path, PathBuf};

use mandala_model::{Drawing, Format, RenderSpec, ResolvedSpec};
use mandala_render::SpecFromImageError;

use crate::UsageError;
use crate::spec_args::{SpecArgs, resolve_request};

/// Flags of `mandala render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the image; the format follows the extension (.png, .webp, .svg) unless --format is given.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// A render spec as JSON, e.g. '{"seed":42,"palette":"ocean"}'; the flags override its fields.
    #[arg(long, value_name = "JSON")]
    pub spec: Option<String>,
    /// Re-render a PNG, WebP or SVG made by `mandala render` (or the bot) exactly, from the spec stored in it.
    #[arg(long, value_name = "FILE", conflicts_with = "spec")]
    pub from: Option<PathBuf>,
    /// With --from on a gallery sheet (`mandala gallery`, docs/gallery.png): draw this cell
    /// (1 is the top left, counting along the rows).
    #[arg(long, value_name = "N", requires = "from", value_parser = clap::value_parser!(u32).range(1..))]
    pub cell: Option<u32>,
    #[command(flatten)]
    pub options: SpecArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let drawing = match &args.from {
        Some(file) => from_file(file, args.cell, &args.options)?,
        None => Drawing::One(resolve(&args)?),
    };
    let format = output_format(
        &args.output,
        args.options.format.as_deref(),
        drawing.format(),
    )?;
    let drawing = drawing
        .with_format(format)
        .map_err(|e| UsageError(format!("-o {}: {e}", args.output.display())))?;
    let rendered = mandala_render::draw(&drawing)?;
    write_atomically(&args.output, &rendered.bytes)?;
    crate::say!("{}", drawing.canonical_json());
    Ok(())
}

fn resolve(args: &Args) -> Result<ResolvedSpec, UsageError> {
    resolve_request(args.spec.as_deref(), &args.options).map(|(_, resolved)| resolved)
}

fn from_file(file: &Path, cell: Option<u32>, options: &SpecArgs) -> Result<Drawing, UsageError> {
    // Only the output format may change: anything else would not be "exactly".
    let others = SpecArgs {
        format: None,
        ..options.clone()
    };
    if others.to_spec().ok() != Some(RenderSpec::default()) {
        return Err(UsageError(
            "--from re-renders the file's spec exactly; only -o and --format may be combined with it"
                .into(),
        ));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| UsageError(format!("--from: cannot read {}: {e}", file.display())))?;
    let shown = file.display();
    let Some(n) = cell else {
        return mandala_render::drawing_from_image(&bytes).map_err(|e| match e {
            SpecFromImageError::Gallery { .. } => {
                UsageError(format!("--from {shown}: {e}: add --cell N"))
            }
            e => UsageError(format!("--from {shown}: {e}")),
        });
    };
    let cells = mandala_render::cells_from_image(&bytes).map_err(|e| {
        UsageError(format!(
            "--cell: {shown} is not a gallery sheet (only `mandala gallery` makes those): {e}"
        ))
    })?;
    let count = cells.len();
    cells
        .into_iter()
        .nth(n as usize - 1)
        .map(Drawing::One)
        .ok_or_else(|| UsageError(format!("--cell {n}: {shown} has cells 1–{count}")))
}

/// `--format` if given, else the output's extension, else the spec's own.
fn output_format(
    output: &Path,
    flag: Option<&str>,
    spec_format: Format,
) -> Result<Format, UsageError> {
    let from_flag = flag
        .map(|f| {
            f.parse::<Format>()
                .map_err(|e| UsageError(format!("--format: {e}")))
        })
        .transpose()?;
    let extension = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let from_extension = match extension.as_deref() {
        None => None,
        Some(ext) => match ext.parse::<Format>() {
            Ok(f) => Some(f),
            Err(_) if from_flag.is_some() => None,
            Err(_) => {
                return Err(UsageError(format!(
                    "-o: cannot tell the format of {} from .{ext} (allowed: .png, .webp, .svg, or pass --format)",
                    output.display()
                )));
            }
        },
    };
    match (from_flag, from_extension) {
        (Some(f), Some(e)) if f != e => Err(UsageError(format!(
            "--format {} does not match -o {} (use a .{} file name)",
            f.extension(),
            output.display(),
            f.extension()
        ))),
        (Some(f), _) | (None, Some(f)) => Ok(f),
        (None, None) => Ok(spec_format),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: readers never see a partial image and failures leave nothing.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), UsageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| UsageError(format!("-o: {} is not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let fail = |e: std::io::Error| UsageError(format!("-o: cannot write {}: {e}", path.display()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_comes_from_flag_then_extension_then_spec() {
        let f = |out: &str, flag: Option<&str>| output_format(Path::new(out), flag, Format::Png);
        assert_eq!(f("a.svg", None).unwrap(), Format::Svg);
        assert_eq!(f("a.WEBP", None).unwrap(), Format::Webp);
        assert_eq!(f("a.png", None).unwrap(), Format::Png);
        assert_eq!(f("a", None).unwrap(), Format::Png, "the spec's own");
        assert_eq!(f("a", Some("webp")).unwrap(), Format::Webp);
        assert_eq!(f("a.img", Some("svg")).unwrap(), Format::Svg);
        assert!(
            f("a.jpg", None)
                .unwrap_err()
                .0
                .contains(".png, .webp, .svg")
        );
        assert!(
            f("a.png", Some("svg"))
                .unwrap_err()
                .0
                .starts_with("--format")
        );
        assert!(
            f("a.png", Some("gif"))
                .unwrap_err()
                .0
                .contains("png, webp, svg")
        );
    }
}
