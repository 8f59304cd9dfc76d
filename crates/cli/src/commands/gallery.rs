//! `mandala gallery`: a contact sheet of several seeds (and optionally
//! styles and palettes) as one PNG, like `docs/gallery.png`.
//!
//! Each cell is an ordinary render of its own resolved spec; the list of
//! specs is stored in the sheet's `mandala:spec` chunk as a JSON array, so
//! any cell can be re-rendered on its own.

use std::path::PathBuf;

use mandala_model::{PaletteChoice, RenderSpec, ResolvedSpec, StyleChoice, bounds};
use mandala_render::tiny_skia::{Color, Pixmap, PixmapPaint, Transform};

use crate::UsageError;
use crate::commands::render::write_atomically;

/// Seeds chosen for variety: styles, symmetries, light and dark palettes.
const DEFAULT_SEEDS: [u64; 12] = [3, 5, 12, 21, 34, 40, 57, 64, 88, 101, 2024, 4242];
const MAX_CELLS: usize = 64;

/// Flags of `mandala gallery`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the contact sheet (PNG).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Seeds, comma separated.
    #[arg(long, value_delimiter = ',', value_name = "N,N..")]
    pub seeds: Vec<u64>,
    /// Also vary the style: each seed once per style (comma separated).
    #[arg(long, value_delimiter = ',', value_name = "STYLE,..")]
    pub styles: Vec<String>,
    /// Also vary the palette: each seed once per palette (comma separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,..")]
    pub palettes: Vec<String>,
    /// Edge of one cell in pixels.
    #[arg(long, default_value_t = 256, value_name = "PX")]
    pub size: u32,
    /// Cells per row.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub columns: u32,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // A sheet is a PNG: a file named otherwise would lie about its bytes.
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if ext.as_deref() != Some("png") {
        return Err(UsageError(format!(
            "-o {}: a gallery sheet is a PNG; name it .png",
            args.output.display()
        ))
        .into());
    }
    let specs = cells(&args)?;
    let columns = args.columns.clamp(1, specs.len() as u32);
    let rows = (specs.len() as u32).div_ceil(columns);
    let gap = (args.size / 24).max(2);
    let (w, h) = (
        columns * args.size + (columns + 1) * gap,
        rows * args.size + (rows + 1) * gap,
    );
    let mut sheet = Pixmap::new(w, h)
        .ok_or_else(|| UsageError(format!("--size/--columns: a {w}x{h} sheet is too large")))?;
    sheet.fill(Color::from_rgba8(14, 14, 18, 255));
    for (i, spec) in specs.iter().enumerate() {
        let cell = mandala_render::render(spec)?;
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        sheet.draw_pixmap(
            (gap + col * (args.size + gap)) as i32,
            (gap + row * (args.size + gap)) as i32,
            cell.as_ref(),
            &PixmapPaint::default(),
            Transform::identity(),
            None,
        );
    }
    let json = format!(
        "[{}]",
        specs
            .iter()
            .map(ResolvedSpec::canonical_json)
            .collect::<Vec<_>>()
            .join(",")
    );
    let png = mandala_render::encode::png_compact(&sheet, &json, true)?;
    write_atomically(&args.output, &png)?;
    crate::say!(
        "{}: {} cells, {w}x{h}, {} KiB",
        args.output.display(),
        specs.len(),
        png.len() / 1024
    );
    Ok(())
}

/// Every cell's spec: seeds x styles x palettes.
fn cells(args: &Args) -> Result<Vec<ResolvedSpec>, UsageError> {
    if !bounds::SIZE.contains(&args.size) || args.size > 1024 {
        return Err(UsageError(format!(
            "--size: {} is out of range (allowed {}..=1024)",
            args.size,
            bounds::SIZE.start()
        )));
    }
    let seeds = if args.seeds.is_empty() {
        DEFAULT_SEEDS.to_vec()
    } else {
        args.seeds.clone()
    };
    let styles = args
        .styles
        .iter()
        .map(|s| {
            s.parse::<StyleChoice>()
                .map(Some)
                .map_err(|e| UsageError(format!("--styles: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let palettes = args
        .palettes
        .iter()
        .map(|p| match p.parse::<PaletteChoice>() {
            Ok(PaletteChoice::Named(n)) => Ok(Some(PaletteChoice::Named(n))),
            _ => Err(UsageError(format!(
                "--palettes: {p:?} is not a palette name (see `mandala palettes`)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let styles = if styles.is_empty() {
        vec![None]
    } else {
        styles
    };
    let palettes = if palettes.is_empty() {
        vec![None]
    } else {
        palettes
    };
    let count = seeds.len() * styles.len() * palettes.len();
    if count > MAX_CELLS {
        return Err(UsageError(format!(
            "--seeds/--styles/--palettes: {count} cells is too many (at most {MAX_CELLS})"
        )));
    }
    let mut out = Vec::with_capacity(count);
    for &seed in &seeds {
        for style in &styles {
            for palette in &palettes {
                let spec = RenderSpec {
                    seed: Some(seed),
                    size: Some(args.size),
                    style: *style,
                    palette: palette.clone(),
                    ..RenderSpec::default()
                };
                out.push(
                    spec.resolve().map_err(|e| {
                        UsageError(format!("--{}: {e}", e.field().replace(' ', "-")))
                    })?,
                );
            }
        }
    }
    Ok(out)
}
