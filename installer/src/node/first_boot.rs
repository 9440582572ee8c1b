//! `tandem first-boot run --stage early|late`: the installed node runs the answer's
//! `[first-boot]` hooks once. Each hook leaves a stamp, `<name>.done` or `<name>.failed`
//! (with its exit status), and a stamped hook never runs again, failed or not: a script
//! that half-enrolled a node should be looked at, not repeated at every boot. Once a
//! stage's hooks are all stamped, the stage stamp keeps systemd from starting this at all.
//! The late stage (network online) also tells the `[report]` webhook how each hook ended,
//! including the early ones, which ran before there was a network.

use crate::contract::first_boot::{NodeConfig, ReportTarget, Stage, CONFIG, DIR, LOG};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long the late stage keeps trying the webhook per event.
const REPORT_PATIENCE: Duration = Duration::from_secs(20);

/// Where the runner reads and writes; tests point it at a temporary directory.
#[derive(Debug, Clone)]
pub struct Places {
    pub config: PathBuf,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Default for Places {
    fn default() -> Self {
        Places {
            config: CONFIG.into(),
            dir: DIR.into(),
            log: LOG.into(),
        }
    }
}

/// How one hook ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed(String),
    /// Stamped by an earlier boot.
    AlreadyRan,
}

/// `tandem first-boot run`: exit 1 when a hook failed in this run.
pub fn command(stage: Stage) -> Result<()> {
    let places = Places::default();
    let out = run(stage, &places, &mut |target, ev| {
        let hook = crate::answer::Webhook {
            url: target.url.clone(),
            fingerprint: target.fingerprint.clone(),
            progress: false,
        };
        crate::exec::report::send(&hook, ev, REPORT_PATIENCE)
    })?;
    let failed: Vec<&str> = out
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .map(|(n, _)| n.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "first-boot hook(s) failed: {} (see {LOG}; they are not run again)",
            failed.join(", ")
        )
    }
}

/// Runs `stage`'s hooks that have no stamp yet, in the config's order; in the late stage
/// then hands `send` one event per stamped hook not yet reported.
pub fn run(
    stage: Stage,
    p: &Places,
    send: &mut dyn FnMut(&ReportTarget, &Value) -> Result<()>,
) -> Result<Vec<(String, Outcome)>> {
    let text = std::fs::read_to_string(&p.config)
        .with_context(|| format!("reading {}", p.config.display()))?;
    let cfg: NodeConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.config.display()))?;
    if let Some(d) = p.log.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p.log)
        .with_context(|| format!("opening {}", p.log.display()))?;
    let mut results = Vec::new();
    for h in cfg.hooks.iter().filter(|h| h.stage == stage) {
        let done = p.dir.join(format!("{}.done", h.name));
        let failed = p.dir.join(format!("{}.failed", h.name));
        if done.exists() || failed.exists() {
            say(
                &mut log,
                &h.name,
                "already ran on an earlier boot; not run again",
            );
            results.push((h.name.clone(), Outcome::AlreadyRan));
            continue;
        }
        let outcome = run_hook(&p.dir.join(&h.name), &h.name, &mut log);
        let (stamp, note) = match &outcome {
            Outcome::Failed(why) => (&failed, why.clone()),
            _ => (&done, "ok".to_string()),
        };
        say(&mut log, &h.name, &format!("finished: {note}"));
        std::fs::write(
            stamp,
            format!("{} {note}\n", crate::exec::runner::timestamp()),
        )
        .with_context(|| format!("writing {}", stamp.display()))?;
        results.push((h.name.clone(), outcome));
    }
    let mut all_sent = true;
    if stage == Stage::Late {
        if let Some(target) = &cfg.report {
            all_sent = report(&cfg, target, p, &mut log, send);
        }
    }
    if !all_sent {
        // No stage stamp: the next boot starts this again, runs nothing, and retries.
        return Ok(results);
    }
    let stage_stamp = p.dir.join(format!("stage-{}.done", stage.name()));
    std::fs::write(
        &stage_stamp,
        format!("{}\n", crate::exec::runner::timestamp()),
    )
    .with_context(|| format!("writing {}", stage_stamp.display()))?;
    Ok(results)
}

/// The script's stdout and stderr, line by line, into the log and onto our stdout (the
/// journal, under the unit's name).
fn run_hook(script: &Path, name: &str, log: &mut std::fs::File) -> Outcome {
    say(log, name, &format!("starting {}", script.display()));
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("no pipe: {e}")),
    };
    let child = writer.try_clone().and_then(|w2| {
        Command::new(script)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(w2)
            .spawn()
    });
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("could not start: {e}")),
    };
    // The writers went into the child (and were dropped here), so the reader ends with it.
    for line in BufReader::new(reader).lines() {
        match line {
            Ok(l) => say(log, name, &l),
            Err(_) => break,
        }
    }
    match child.wait() {
        Ok(s) if s.success() => Outcome::Ok,
        Ok(s) => Outcome::Failed(match s.code() {
            Some(c) => format!("exit status {c}"),
            None => format!("{s}"),
        }),
        Err(e) => Outcome::Failed(format!("waiting for it: {e}")),
    }
}

fn say(log: &mut std::fs::File, hook: &str, line: &str) {
    let l = format!("{} {hook}: {line}", crate::exec::runner::timestamp());
    println!("{hook}: {line}");
    let _ = writeln!(log, "{l}");
}

/// One `first-boot` event per stamped, unreported hook; `<name>.reported` once the
/// webhook took it. An unreachable webhook is logged and never fails the stage. False when
/// an event is still owed.
fn report(
    cfg: &NodeConfig,
    target: &ReportTarget,
    p: &Places,
    log: &mut std::fs::File,
    send: &mut dyn FnMut(&ReportTarget, &Value) -> Result<()>,
) -> bool {
    let mut all = true;
    for h in &cfg.hooks {
        let reported = p.dir.join(format!("{}.reported", h.name));
        if reported.exists() {
            continue;
        }
        let (status, detail) = if p.dir.join(format!("{}.done", h.name)).exists() {
            ("ok", String::new())
        } else if let Ok(t) = std::fs::read_to_string(p.dir.join(format!("{}.failed", h.name))) {
            ("failed", t.trim().to_string())
        } else {
            continue;
        };
        let ev = event(&h.name, h.stage, status, &detail);
        match send(target, &ev) {
            Ok(()) => {
                let _ = std::fs::write(&reported, "");
            }
            Err(e) => {
                all = false;
                say(log, &h.name, &format!("report not sent: {e:#}"));
            }
        }
    }
    all
}

/// The event docs/report.md describes.
pub fn event(hook: &str, stage: Stage, status: &str, detail: &str) -> Value {
    let mut fields = json!({
        "hook": hook,
        "stage": stage.name(),
        "status": status,
        "node": std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
    });
    if !detail.is_empty() {
        fields["detail"] = json!(detail);
    }
    crate::exec::report::event("first-boot", fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::first_boot::HookEntry;
    use std::os::unix::fs::PermissionsExt;

    fn places(name: &str) -> Places {
        let root = std::env::temp_dir().join(format!("tandem-fb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("lib")).unwrap();
        Places {
            config: root.join("first-boot.json"),
            dir: root.join("lib"),
            log: root.join("log/first-boot.log"),
        }
    }

    fn hook(p: &Places, name: &str, stage: Stage, body: &str) -> HookEntry {
        let f = p.dir.join(name);
        std::fs::write(&f, body).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o700)).unwrap();
        HookEntry {
            name: name.into(),
            stage,
        }
    }

    #[test]
    fn each_hook_runs_once_and_failures_are_stamped_and_reported() {
        let p = places("once");
        let runs = p.dir.join("runs");
        let hooks = vec![
            hook(&p, "early", Stage::Early, "#!/bin/sh\necho early-out\n"),
            hook(
                &p,
                "enroll",
                Stage::Late,
                &format!(
                    "#!/bin/sh\necho x >> {}\necho to-out\necho to-err >&2\n",
                    runs.display()
                ),
            ),
            hook(
                &p,
                "broken",
                Stage::Late,
                "#!/bin/sh\necho trying\nexit 3\n",
            ),
        ];
        let cfg = NodeConfig {
            hooks,
            report: Some(ReportTarget {
                url: "http://127.0.0.1:9/r".into(),
                fingerprint: None,
            }),
        };
        std::fs::write(&p.config, serde_json::to_string(&cfg).unwrap()).unwrap();
        let mut sent: Vec<Value> = Vec::new();
        let mut send = |_: &ReportTarget, v: &Value| {
            sent.push(v.clone());
            Ok(())
        };

        let early = run(Stage::Early, &p, &mut send).unwrap();
        assert_eq!(early, vec![("early".to_string(), Outcome::Ok)]);
        let late = run(Stage::Late, &p, &mut send).unwrap();
        assert_eq!(late[0], ("enroll".to_string(), Outcome::Ok));
        assert_eq!(
            late[1],
            (
                "broken".to_string(),
                Outcome::Failed("exit status 3".into())
            )
        );
        // A second boot: nothing runs, nothing is reported twice.
        let again = run(Stage::Late, &p, &mut send).unwrap();
        assert!(
            again.iter().all(|(_, o)| *o == Outcome::AlreadyRan),
            "{again:?}"
        );

        assert_eq!(std::fs::read_to_string(&runs).unwrap(), "x\n");
        assert!(p.dir.join("enroll.done").exists());
        assert!(std::fs::read_to_string(p.dir.join("broken.failed"))
            .unwrap()
            .contains("exit status 3"));
        assert!(p.dir.join("stage-late.done").exists());
        let log = std::fs::read_to_string(&p.log).unwrap();
        assert!(log.contains(" enroll: to-out\n"), "{log}");
        assert!(log.contains(" enroll: to-err\n"), "{log}");
        assert!(log.contains(" early: early-out\n"), "{log}");
        assert_eq!(log.matches(" enroll: to-out").count(), 1, "{log}");

        let got: Vec<(String, String, String)> = sent
            .iter()
            .map(|v| {
                assert_eq!(v["event"], "first-boot");
                assert_eq!(v["schema"], crate::exec::report::SCHEMA_VERSION);
                (
                    v["hook"].as_str().unwrap().to_string(),
                    v["stage"].as_str().unwrap().to_string(),
                    v["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = [
            ("early", "early", "ok"),
            ("enroll", "late", "ok"),
            ("broken", "late", "failed"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn an_unreachable_webhook_is_retried_next_time_and_never_fails_the_stage() {
        let p = places("unreach");
        let hooks = vec![hook(&p, "a", Stage::Late, "#!/bin/sh\ntrue\n")];
        let cfg = NodeConfig {
            hooks,
            report: Some(ReportTarget {
                url: "http://127.0.0.1:9/r".into(),
                fingerprint: None,
            }),
        };
        std::fs::write(&p.config, serde_json::to_string(&cfg).unwrap()).unwrap();
        let r = run(Stage::Late, &p, &mut |_, _| anyhow::bail!("refused")).unwrap();
        assert_eq!(r, vec![("a".to_string(), Outcome::Ok)]);
        assert!(!p.dir.join("a.reported").exists());
        assert!(
            !p.dir.join("stage-late.done").exists(),
            "owed: the next boot retries"
        );
        let mut n = 0;
        run(Stage::Late, &p, &mut |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        assert!(p.dir.join("a.reported").exists());
        assert!(p.dir.join("stage-late.done").exists());
    }
}

/// docs/report.md's first-boot event has exactly the keys [`event`] sends.
#[cfg(test)]
mod doc_tests {
    #[test]
    fn the_documented_event_has_the_keys_the_code_sends() {
        let text = include_str!("../../../docs/report.md");
        let block = text
            .split("```json\n")
            .map(|b| b.split("```").next().unwrap_or(""))
            .find(|b| b.contains("\"first-boot\""))
            .expect("report.md shows a first-boot event");
        let doc: serde_json::Value = serde_json::from_str(block).unwrap();
        let code = super::event("enroll", super::Stage::Late, "failed", "x");
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(keys(&doc), keys(&code));
        assert_eq!(doc["event"], code["event"]);
        assert_eq!(doc["schema"], code["schema"]);
    }
}
