//! Running a scenario file the way the command-line tools do: every sweep value and seed
//! it lists, a progress bar per run, the table on stdout and the files in a directory per
//! run. Shared by `jetstream-sim run` and `jetstream sim`.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{RunSpec, Scenario, Summary, run};

/// How to run a scenario file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run these seeds instead of the file's.
    pub seeds: Vec<u64>,
    /// Output directory; runs of a sweep or of several seeds get a subdirectory each.
    pub out: PathBuf,
    /// No progress bar.
    pub quiet: bool,
}

/// Runs every expansion of the scenario in `file`, printing each run's table and where its
/// files went. Returns the summaries; an unreadable or invalid file, a failed run, or a run
/// that delivered corrupted bytes (a failure of the protocol under test, reported after
/// every run finished) is an error naming the cause.
pub fn run_file(file: &Path, options: &RunOptions) -> Result<Vec<Summary>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let seeds = (!options.seeds.is_empty()).then_some(options.seeds.as_slice());
    let specs = Scenario::expand(&text, file, seeds).map_err(|e| e.to_string())?;
    let many = specs.len() > 1;
    let mut summaries = Vec::with_capacity(specs.len());
    for spec in &specs {
        let dir = run_dir(&options.out, spec, many);
        let summary = run_one(spec, &dir, options.quiet)?;
        println!("{}", summary.table(20));
        println!("results in {}\n", dir.display());
        summaries.push(summary);
    }
    let corrupted = summaries.iter().filter(|s| s.total.corrupted_bytes > 0).count();
    if corrupted > 0 {
        return Err(format!("{corrupted} of {} runs delivered corrupted bytes", summaries.len()));
    }
    Ok(summaries)
}

/// One run with a progress bar in simulated milliseconds.
fn run_one(spec: &RunSpec, dir: &Path, quiet: bool) -> Result<Summary, String> {
    let limit_ms = (spec.scenario.duration.0.as_secs_f64() * 1000.0) as u64;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(limit_ms) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ms simulated, {elapsed} wall")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{} seed {}", spec.scenario.name, spec.seed));
    let result = run(spec, Some(dir), &mut |t| bar.set_position((t * 1000.0) as u64));
    bar.finish_and_clear();
    result.map_err(|e| e.to_string())
}

/// `out`, plus the sweep label and the seed when the file expands to several runs.
fn run_dir(out: &Path, spec: &RunSpec, many: bool) -> PathBuf {
    let mut dir = out.to_path_buf();
    if let Some(label) = &spec.sweep_label {
        dir.push(label.replace(['/', ' '], "_"));
    }
    if many {
        dir.push(format!("seed-{}", spec.seed));
    }
    dir
}
