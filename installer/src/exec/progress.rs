//! What the console shows while installing: phases with their durations, one line per
//! step. Plain timestamped lines when the console is not a terminal (a serial console, a
//! log), bars on a terminal, JSON lines for tools.

use super::runner::timestamp;
use super::steps::Phase;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    Plain,
    Json,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    phase: &'a str,
    step: &'a str,
    fraction: f64,
    message: &'a str,
}

pub struct Progress {
    json: bool,
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    current: Option<(Phase, Instant)>,
    /// Finished phases and how long each took.
    pub phases: Vec<(Phase, Duration)>,
}

impl Progress {
    pub fn new(mode: Mode, total_steps: usize) -> Self {
        let tty = std::io::stdout().is_terminal();
        let bar = (mode == Mode::Auto && tty).then(|| {
            let b = ProgressBar::new(total_steps as u64);
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        Progress {
            json: mode == Mode::Json,
            bar,
            total: total_steps.max(1),
            done: 0,
            current: None,
            phases: Vec::new(),
        }
    }

    fn fraction(&self) -> f64 {
        self.done as f64 / self.total as f64
    }

    fn line(&self, phase: &str, step: &str, message: &str) {
        if self.json {
            let l = JsonLine {
                phase,
                step,
                fraction: (self.fraction() * 1000.0).round() / 1000.0,
                message,
            };
            println!("{}", serde_json::to_string(&l).unwrap_or_default());
        } else if let Some(b) = &self.bar {
            b.println(message);
        } else {
            println!("[{}] {message}", timestamp());
        }
    }

    /// Starts `phase`, closing the one before.
    pub fn phase(&mut self, phase: Phase) {
        if self.current.map(|(p, _)| p) == Some(phase) {
            return;
        }
        self.end_phase();
        self.current = Some((phase, Instant::now()));
        let n = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0) + 1;
        let msg = format!(
            "== phase {n}/{}: {} ({})",
            Phase::ALL.len(),
            phase.name(),
            phase.title()
        );
        self.line(phase.name(), "", &msg);
        if let Some(b) = &self.bar {
            b.set_message(phase.title());
        }
    }

    /// Closes the running phase and records its duration.
    pub fn end_phase(&mut self) {
        if let Some((p, t)) = self.current.take() {
            let d = t.elapsed();
            self.phases.push((p, d));
            let msg = format!("   {} done in {:.1} s", p.name(), d.as_secs_f64());
            self.line(p.name(), "", &msg);
        }
    }

    /// A step is about to run.
    pub fn step(&mut self, text: &str) {
        let phase = self.current.map(|(p, _)| p.name()).unwrap_or("");
        if self.json {
            self.line(phase, text, "");
        } else if let Some(b) = &self.bar {
            b.set_message(format!("{phase}: {}", truncate(text, 60)));
        } else {
            println!("[{}]   {text}", timestamp());
        }
    }

    /// A step finished.
    pub fn advance(&mut self) {
        self.done += 1;
        if let Some(b) = &self.bar {
            b.set_position(self.done as u64);
        }
    }

    /// Free text (mdstat, notes), shown above the bar.
    pub fn message(&self, text: &str) {
        let phase = self.current.map(|(p, _)| p.name()).unwrap_or("");
        for l in text.lines() {
            self.line(phase, "", l);
        }
    }

    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
