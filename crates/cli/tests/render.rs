//! `mandala render`, `palettes` and `gallery`, run as the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use mandala_model::{Format, ResolvedSpec};

fn mandala(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mandala"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn renders_a_png_and_prints_its_resolved_spec() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(
        &[
            "render",
            "--seed",
            "42",
            "--symmetry",
            "9",
            "--size",
            "256",
            "-o",
            "m.png",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    let spec: ResolvedSpec = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((spec.seed, spec.symmetry, spec.size), (42, 9, 256));
    assert_eq!(spec.format, Format::Png);

    let bytes = std::fs::read(dir.path().join("m.png")).unwrap();
    let image = mandala_render::image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (256, 256));
    assert_eq!(mandala_render::spec_from_image(&bytes).unwrap(), spec);
    // Nothing but the image is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_missing_seed_is_chosen_and_printed() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let o = mandala(&["render", "--size", "64", "-o", "a.png"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<ResolvedSpec>(stdout(&o).trim())
            .unwrap()
            .seed
    };
    assert_ne!(run(), run());
}

#[test]
fn from_regenerates_a_byte_identical_file_and_converts_formats() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(
        &[
            "render",
            "--spec",
            r#"{"seed":7,"palette":"sakura","layers":4}"#,
            "--style",
            "spline",
            "--size",
            "300",
            "-o",
            "first.png",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let first: ResolvedSpec = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(first.palette, "sakura");
    assert_eq!(first.layers.len(), 4);

    let o = mandala(
        &["render", "--from", "first.png", "-o", "again.png"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("first.png")).unwrap(),
        std::fs::read(dir.path().join("again.png")).unwrap()
    );

    let o = mandala(
        &["render", "--from", "first.png", "-o", "same.svg"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(dir.path().join("same.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    let as_svg: ResolvedSpec = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        as_svg,
        ResolvedSpec {
            format: Format::Svg,
            ..first
        }
    );
}

#[test]
fn webp_by_extension_and_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(
        &["render", "--seed", "3", "--size", "128", "-o", "m.webp"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(dir.path().join("m.webp")).unwrap();
    let image = mandala_render::image::load_from_memory_with_format(
        &bytes,
        mandala_render::image::ImageFormat::WebP,
    )
    .unwrap();
    assert_eq!(image.width(), 128);
    let spec: ResolvedSpec = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(spec.format, Format::Webp);
    // No extension, no --format: the spec's format, WebP unless it says.
    let o = mandala(
        &["render", "--seed", "3", "--size", "128", "-o", "plain"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("plain")).unwrap(), bytes);
}

/// `--from` reads the spec back from every format the bot or the CLI
/// writes, and re-renders the same bytes.
#[test]
fn from_reads_webp_and_svg_too() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(
        &["render", "--seed", "11", "--size", "200", "-o", "a.webp"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mandala(&["render", "--from", "a.webp", "-o", "b.webp"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert_eq!(read("a.webp"), read("b.webp"));
    // WebP → SVG → WebP: the spec survives the trip through the SVG.
    let o = mandala(&["render", "--from", "a.webp", "-o", "c.svg"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mandala(&["render", "--from", "c.svg", "-o", "d.webp"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read("a.webp"), read("d.webp"));
}

/// A grid the bot sent re-renders exactly too; it cannot become an SVG.
#[test]
fn from_reads_the_bots_grids() {
    use mandala_model::{Drawing, GridKind, RenderSpec};
    let dir = tempfile::tempdir().unwrap();
    let spec = RenderSpec {
        seed: Some(2026),
        size: Some(256),
        ..Default::default()
    };
    let grid = Drawing::resolve(&spec, Some(GridKind::Candidates)).unwrap();
    let sent = mandala_render::draw(&grid).unwrap().bytes;
    std::fs::write(dir.path().join("grid.webp"), &sent).unwrap();
    let o = mandala(
        &["render", "--from", "grid.webp", "-o", "again.webp"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("again.webp")).unwrap(), sent);
    let o = mandala(
        &["render", "--from", "grid.webp", "-o", "grid.png"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let png = std::fs::read(dir.path().join("grid.png")).unwrap();
    assert!(matches!(
        mandala_render::drawing_from_image(&png).unwrap(),
        Drawing::Grid(g) if g.size == 256
    ));
    let o = mandala(
        &["render", "--from", "grid.webp", "-o", "grid.svg"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("grid"), "{}", stderr(&o));
    assert!(!dir.path().join("grid.svg").exists());
}

#[test]
fn bad_input_exits_2_naming_the_flag_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag, allowed) in [
        (vec!["--symmetry", "99"], "--symmetry", "2..=64"),
        (vec!["--palette", "mauve"], "--palette", "ocean"),
        (vec!["--palette", "#zz"], "--palette", "#ff8800"),
        (vec!["--size", "10"], "--size", "64..=4096"),
        (vec!["--style", "zigzag"], "--style", "bezier-fill"),
        (
            vec!["--background", "blue-ish"],
            "--background",
            "transparent",
        ),
        (vec!["--format", "gif"], "--format", "png, webp, svg"),
        (vec!["--spec", "{\"sed\":1}"], "--spec", "`seed`"),
    ] {
        let mut all = vec!["render", "-o", "out.png"];
        all.extend(&args);
        let o = mandala(&all, dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(flag) && err.contains(allowed),
            "{args:?}: {err}"
        );
        let value = if flag == "--spec" { "`sed`" } else { args[1] };
        assert!(
            err.contains(value),
            "{args:?}: the value is not named: {err}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let o = mandala(&["render", "-o", "/nonexistent/x.png"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent/x.png"), "{}", stderr(&o));
    assert!(!Path::new("/nonexistent/x.png").exists());

    let o = mandala(&["render", "-o", "picture.jpg"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".png, .webp, .svg"), "{}", stderr(&o));

    std::fs::write(dir.path().join("plain.txt"), "hello").unwrap();
    let o = mandala(
        &["render", "--from", "plain.txt", "-o", "x.png"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from"), "{}", stderr(&o));
    let o = mandala(
        &[
            "render",
            "--from",
            "plain.txt",
            "--seed",
            "1",
            "-o",
            "x.png",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn palettes_lists_every_palette() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(&["palettes"], dir.path());
    assert!(o.status.success());
    let out = stdout(&o);
    for p in mandala_model::palette::PALETTES {
        let line = out.lines().find(|l| l.starts_with(p.name)).unwrap();
        assert!(line.contains(&p.background.to_string()) && line.contains(p.description));
    }
    assert!(out.contains("harmony"));
    // Not a terminal: no escape codes unless asked.
    assert!(!out.contains('\x1b'));
    let o = mandala(&["palettes", "--color", "always"], dir.path());
    assert!(stdout(&o).contains("\x1b[48;2;"));
}

#[test]
fn gallery_writes_a_contact_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let o = mandala(
        &[
            "gallery",
            "-o",
            "g.png",
            "--seeds",
            "1,2",
            "--styles",
            "line,spline",
            "--size",
            "96",
            "--columns",
            "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(dir.path().join("g.png")).unwrap();
    let image = mandala_render::image::load_from_memory(&bytes).unwrap();
    // 2x2 cells of 96 px with 4 px gutters.
    assert_eq!(
        (image.width(), image.height()),
        (2 * 96 + 3 * 4, 2 * 96 + 3 * 4)
    );
    let o = mandala(
        &["gallery", "-o", "g2.png", "--styles", "zigzag"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--styles"));
    // A sheet is a PNG, whatever the name would say; zero columns is no layout.
    for (args, flag) in [
        (&["gallery", "-o", "g.svg", "--size", "96"][..], "-o"),
        (
            &["gallery", "-o", "g3.png", "--columns", "0"][..],
            "--columns",
        ),
    ] {
        let o = mandala(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
    }
    assert!(!dir.path().join("g.svg").exists());

    // --from reads a sheet's cells: without --cell it says what to add,
    // with it the cell is drawn exactly as the sheet drew it.
    let o = mandala(&["render", "--from", "g.png", "-o", "c.png"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("gallery of 4 mandalas") && stderr(&o).contains("--cell"),
        "{}",
        stderr(&o)
    );
    let o = mandala(
        &["render", "--from", "g.png", "--cell", "3", "-o", "c.webp"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cells = mandala_render::cells_from_image(&bytes).unwrap();
    let drawn = mandala_render::spec_from_image(&std::fs::read(dir.path().join("c.webp")).unwrap())
        .unwrap();
    assert_eq!(drawn.canonical_json(), cells[2].canonical_json());
    let o = mandala(
        &["render", "--from", "g.png", "--cell", "9", "-o", "c.png"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cells 1–4"), "{}", stderr(&o));
}
