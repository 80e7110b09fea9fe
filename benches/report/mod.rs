//! What the custom-harness benches share: the contenders they compare, and how they report
//! their figures (medians, number formats, the command and commit a table came from).
//! Included by each bench with `mod report;`.

#![allow(dead_code)]

use std::time::Duration;

use futures::executor::block_on;
use rro::Config;

/// What a bench compares: the storage engine called directly, or the client on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    Engine,
    #[cfg(feature = "tokio")]
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
}

impl Contender {
    /// The engine, then every enabled backend.
    pub fn all() -> Vec<Contender> {
        let mut all = vec![Contender::Engine];
        #[cfg(feature = "tokio")]
        all.push(Contender::Tokio);
        #[cfg(feature = "smol")]
        all.push(Contender::Smol);
        all
    }

    /// Every enabled backend.
    pub fn clients() -> Vec<Contender> {
        Contender::all()
            .into_iter()
            .filter(|c| *c != Contender::Engine)
            .collect()
    }

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Engine => "engine",
            #[cfg(feature = "tokio")]
            Contender::Tokio => "rro-tokio",
            #[cfg(feature = "smol")]
            Contender::Smol => "rro-smol",
        }
    }

    /// Open an instance on this contender's backend (not for `Engine`).
    pub fn open_client(self, config: Config) -> rro::RroClient {
        let opened = match self {
            Contender::Engine => unreachable!("the engine has no client"),
            #[cfg(feature = "tokio")]
            Contender::Tokio => block_on(rro::open_with(config, rro::TokioBackend)),
            #[cfg(feature = "smol")]
            Contender::Smol => block_on(rro::open_with(config, rro::SmolBackend)),
        };
        opened.expect("open an rro instance")
    }
}

/// The median of `values` (the mean of the middle two for an even count); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The median of `values` (the upper middle one for an even count); sorts them.
pub fn median_duration(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whole milliseconds.
pub fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

/// `1,234, 5,678`.
pub fn list(values: impl Iterator<Item = f64>) -> String {
    values.map(thousands).collect::<Vec<_>>().join(", ")
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The short hash of HEAD, marked when tracked files have uncommitted changes.
pub fn commit() -> String {
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    // Uncommitted changes outside untracked files make the commit only an approximation.
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    }
}

/// The command that reproduces this run of bench `bench`, features and quick mode included.
pub fn command(bench: &str, quick: bool) -> String {
    let features = match (cfg!(feature = "tokio"), cfg!(feature = "smol")) {
        (true, true) => " --all-features",
        (false, true) => " --no-default-features --features smol",
        _ => "",
    };
    let quick = if quick { "RRO_BENCH_QUICK=1 " } else { "" };
    format!("{quick}cargo bench{features} --bench {bench}")
}
