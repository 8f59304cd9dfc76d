//! `mandala lab`: load the real binaries at capacity and report.

use std::path::PathBuf;
use std::time::Duration;

use mandala_model::RenderSpec;

use crate::UsageError;
use crate::lab::{self, BotSetup, Mode, Scenario};

/// Flags of `mandala lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How the binaries are joined: local push (the default setup) or the emulators.
    #[arg(long, value_enum, default_value_t = Mode::Local)]
    pub mode: Mode,
    /// The ingress binary (default: `mandala-ingress` beside this one).
    #[arg(long)]
    pub ingress_bin: Option<PathBuf>,
    /// The worker binary (default: `mandala-worker` beside this one).
    #[arg(long)]
    pub worker_bin: Option<PathBuf>,
    /// The worker's render slots: the capacity under test.
    #[arg(long, default_value_t = 1)]
    pub render_slots: u32,
    /// Heavy jobs one user sends at once.
    #[arg(long, default_value_t = 15)]
    pub burst: usize,
    /// Users who each send one light job just after the burst.
    #[arg(long, default_value_t = 3)]
    pub light_users: usize,
    /// Users of the steady phase.
    #[arg(long, default_value_t = 8)]
    pub steady_users: usize,
    /// Jobs each steady user sends.
    #[arg(long, default_value_t = 6)]
    pub steady_jobs: usize,
    /// Mean time between a steady user's jobs, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub steady_gap_ms: u64,
    /// Share of heavy jobs in the steady phase.
    #[arg(long, default_value_t = 0.3)]
    pub heavy_share: f64,
    /// Edge of a heavy job (12 layers × 32 elements).
    #[arg(long, default_value_t = 2048)]
    pub heavy_size: u32,
    /// Where logs and images go (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print every interaction as a JSON line too.
    #[arg(long)]
    pub records: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    check(&args)?;
    let (ingress_bin, worker_bin) = binaries(&args)?;
    let temp = tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.clone());
    let setup = BotSetup {
        mode: args.mode,
        ingress_bin,
        worker_bin,
        render_slots: args.render_slots,
        dir: dir.clone(),
    };
    eprintln!(
        "lab: {} with {} render slot(s); logs in {}",
        args.mode.name(),
        args.render_slots,
        dir.display()
    );
    let (records, summary) = lab::run(&setup, &scenario(&args)).await?;
    if args.records {
        for r in &records {
            crate::say!("{}", serde_json::to_string(r)?);
        }
    }
    let report = lab::report::render(
        &format!(
            "{} · {} render slot(s)",
            args.mode.name(),
            args.render_slots
        ),
        &summary,
    );
    crate::say!("{}", report.trim_end_matches('\n'));
    if dir == temp {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}

/// The flags clap cannot check one by one.
fn check(args: &Args) -> Result<(), UsageError> {
    if !(0.0..=1.0).contains(&args.heavy_share) {
        return Err(UsageError(format!(
            "--heavy-share must be in 0..=1 (got {})",
            args.heavy_share
        )));
    }
    if !(1..=64).contains(&args.render_slots) {
        return Err(UsageError(format!(
            "--render-slots must be in 1..=64 (got {})",
            args.render_slots
        )));
    }
    if let Err(e) = mandala_model::bounds::SIZE
        .contains(&args.heavy_size)
        .then_some(())
        .ok_or("out of range")
    {
        return Err(UsageError(format!(
            "--heavy-size {}: {e} (64..=4096)",
            args.heavy_size
        )));
    }
    Ok(())
}

/// The ingress and worker binaries, which must have been built.
fn binaries(args: &Args) -> Result<(PathBuf, PathBuf), UsageError> {
    let ingress_bin = args
        .ingress_bin
        .clone()
        .unwrap_or_else(|| lab::bot::sibling_binary("mandala-ingress"));
    let worker_bin = args
        .worker_bin
        .clone()
        .unwrap_or_else(|| lab::bot::sibling_binary("mandala-worker"));
    for (flag, bin) in [
        ("--ingress-bin", &ingress_bin),
        ("--worker-bin", &worker_bin),
    ] {
        if !bin.is_file() {
            return Err(UsageError(format!(
                "{flag}: {} is not there (build it: cargo build --release -p mandala-ingress -p mandala-single)",
                bin.display()
            )));
        }
    }
    Ok((ingress_bin, worker_bin))
}

/// The run the flags ask for: a burst of heavy jobs, light users behind
/// it, then the steady phase.
fn scenario(args: &Args) -> Scenario {
    Scenario {
        burst: args.burst,
        heavy: RenderSpec {
            size: Some(args.heavy_size),
            layers: Some(12),
            elements: Some(32),
            ..Default::default()
        },
        light_users: args.light_users,
        light: RenderSpec {
            size: Some(512),
            layers: Some(2),
            ..Default::default()
        },
        light_delay: Duration::from_millis(300),
        steady_users: args.steady_users,
        steady_jobs: args.steady_jobs,
        steady_gap: Duration::from_millis(args.steady_gap_ms),
        heavy_share: args.heavy_share,
        timeout: Duration::from_secs(900),
        seed: 1,
    }
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mandala-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
