//! The render options as command-line flags, shared by every subcommand
//! that asks for an image (`render`, `publish`, `interact`, `load`).

use mandala_model::{Background, Format, PaletteChoice, RenderSpec, ResolvedSpec, StyleChoice};

use crate::UsageError;

/// Flags that make up a [`RenderSpec`]. Unset flags leave the choice to the seed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SpecArgs {
    /// Seed: the same seed draws the same mandala. Random when omitted.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Variation of the seed's design (0 = the original).
    #[arg(long)]
    pub variant: Option<u32>,
    /// Rotational symmetry order (copies around the centre).
    #[arg(long)]
    pub symmetry: Option<u32>,
    /// Mirror each wedge (kaleidoscope symmetry).
    #[arg(long, overrides_with = "no_mirror")]
    pub mirror: bool,
    /// Do not mirror the wedges (pure rotation).
    #[arg(long)]
    pub no_mirror: bool,
    /// Number of concentric layers.
    #[arg(long)]
    pub layers: Option<u32>,
    /// Points per layer.
    #[arg(long)]
    pub elements: Option<u32>,
    /// line, fill, bezier, bezier-fill, spline or random.
    #[arg(long)]
    pub style: Option<String>,
    /// A palette name (see `mandala palettes`), `harmony`, or hex colours: '#ff8800,#0088ff'.
    #[arg(long)]
    pub palette: Option<String>,
    /// A hex colour or `transparent`.
    #[arg(long)]
    pub background: Option<String>,
    /// Draw rings and dots between layers.
    #[arg(long, overrides_with = "no_ornaments")]
    pub ornaments: bool,
    /// No rings and dots between layers.
    #[arg(long)]
    pub no_ornaments: bool,
    /// Image edge in pixels.
    #[arg(long)]
    pub size: Option<u32>,
    /// png, webp or svg.
    #[arg(long)]
    pub format: Option<String>,
}

fn flag_error(flag: &str, e: &mandala_model::SpecError) -> UsageError {
    UsageError(format!("--{flag}: {e}"))
}

impl SpecArgs {
    /// Applies the flags on top of `base` (e.g. a `--spec` JSON) and
    /// validates the result; errors name the flag and what is allowed.
    pub fn apply(&self, mut base: RenderSpec) -> Result<RenderSpec, UsageError> {
        base.seed = self.seed.or(base.seed);
        base.variant = self.variant.or(base.variant);
        base.symmetry = self.symmetry.or(base.symmetry);
        base.layers = self.layers.or(base.layers);
        base.elements = self.elements.or(base.elements);
        base.size = self.size.or(base.size);
        if self.mirror || self.no_mirror {
            base.mirror = Some(self.mirror);
        }
        if self.ornaments || self.no_ornaments {
            base.ornaments = Some(self.ornaments);
        }
        if let Some(s) = &self.style {
            base.style = Some(
                s.parse::<StyleChoice>()
                    .map_err(|e| flag_error("style", &e))?,
            );
        }
        if let Some(p) = &self.palette {
            base.palette = Some(
                p.parse::<PaletteChoice>()
                    .map_err(|e| flag_error("palette", &e))?,
            );
        }
        if let Some(b) = &self.background {
            base.background = Some(
                b.parse::<Background>()
                    .map_err(|e| flag_error("background", &e))?,
            );
        }
        if let Some(f) = &self.format {
            base.format = Some(f.parse::<Format>().map_err(|e| flag_error("format", &e))?);
        }
        base.validate().map_err(|e| {
            let flag = e.field().split(' ').next().unwrap_or("spec").to_owned();
            flag_error(&flag, &e)
        })?;
        Ok(base)
    }

    pub fn to_spec(&self) -> Result<RenderSpec, UsageError> {
        self.apply(RenderSpec::default())
    }
}

/// The spec a command asks for: `--spec` JSON (if any) with the flags on
/// top, validated, with a random seed when none was given (so the seed can
/// be printed and the image reproduced), resolved.
pub fn resolve_request(
    spec_json: Option<&str>,
    flags: &SpecArgs,
) -> Result<(RenderSpec, ResolvedSpec), UsageError> {
    let base = spec_json
        .map(parse_spec_json)
        .transpose()?
        .unwrap_or_default();
    let mut spec = flags.apply(base)?;
    if spec.seed.is_none() {
        spec.seed = Some(random_seed()?);
    }
    let resolved = spec
        .resolve()
        .map_err(|e| UsageError(format!("--{}: {e}", e.field().replace(' ', "-"))))?;
    Ok((spec, resolved))
}

/// A seed from OS randomness, kept within the range Discord's integer
/// options and JavaScript can represent (≤ 2^53).
pub fn random_seed() -> Result<u64, UsageError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| UsageError(format!("--seed: none given and no OS randomness: {e}")))?;
    Ok(u64::from_le_bytes(bytes) >> 11)
}

/// Parses a `--spec` JSON argument, naming the flag on error.
/// Its values are checked here, so an error in them names `--spec`, not a
/// flag that was never given.
pub fn parse_spec_json(json: &str) -> Result<RenderSpec, UsageError> {
    // serde reads a struct from an array too (`[1,2]` as seed 1, variant
    // 2): a spec is an object with named fields, nothing else.
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| UsageError(format!("--spec: not JSON: {e}")))?;
    if !value.is_object() {
        return Err(UsageError(format!(
            "--spec: a render spec is a JSON object such as '{{\"seed\":42}}', not {value}"
        )));
    }
    let spec: RenderSpec = serde_json::from_value(value)
        .map_err(|e| UsageError(format!("--spec: not a valid render spec: {e}")))?;
    spec.validate()
        .map_err(|e| UsageError(format!("--spec: {e}")))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_an_object_and_its_errors_name_it() {
        let e = parse_spec_json("[1,2]").unwrap_err().0;
        assert!(e.starts_with("--spec:") && e.contains("object"), "{e}");
        let e = parse_spec_json(r#"{"symmetry":99}"#).unwrap_err().0;
        assert!(e.starts_with("--spec:") && e.contains("symmetry"), "{e}");
        assert!(!e.contains("--symmetry"), "{e}");
        assert_eq!(parse_spec_json(r#"{"seed":42}"#).unwrap().seed, Some(42));
    }

    #[test]
    fn flags_override_the_base_and_errors_name_the_flag() {
        let args = SpecArgs {
            symmetry: Some(8),
            no_mirror: true,
            palette: Some("ocean".into()),
            ..Default::default()
        };
        let spec = args
            .apply(RenderSpec {
                seed: Some(1),
                symmetry: Some(3),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            (spec.seed, spec.symmetry, spec.mirror),
            (Some(1), Some(8), Some(false))
        );

        let bad = SpecArgs {
            symmetry: Some(99),
            ..Default::default()
        }
        .to_spec()
        .unwrap_err();
        assert_eq!(
            bad.0,
            "--symmetry: symmetry 99 is out of range (allowed 2..=64)"
        );
        let bad = SpecArgs {
            palette: Some("mauve".into()),
            ..Default::default()
        }
        .to_spec()
        .unwrap_err();
        assert!(
            bad.0.starts_with("--palette:") && bad.0.contains("ocean"),
            "{}",
            bad.0
        );
        let bad = SpecArgs {
            style: Some("zigzag".into()),
            ..Default::default()
        }
        .to_spec()
        .unwrap_err();
        assert!(
            bad.0.starts_with("--style:") && bad.0.contains("bezier-fill"),
            "{}",
            bad.0
        );
        assert!(
            parse_spec_json("{\"sed\":1}")
                .unwrap_err()
                .0
                .contains("sed")
        );
    }
}
