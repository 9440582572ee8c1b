//! `[first-boot]` on the node: the hook list `tandem first-boot run` reads and one systemd
//! unit per stage that has hooks. The scripts themselves are fetched and checked by the
//! executor (they may come from the medium or a URL), not rendered.

use super::{RenderedFile, HEADER};
use crate::answer::{Answer, HookStage};
use crate::contract::first_boot::{HookEntry, NodeConfig, ReportTarget, Stage, CONFIG, DIR};

/// The stage a hook's `after` names.
pub fn stage(after: HookStage) -> Stage {
    match after {
        HookStage::BeforeNetwork => Stage::Early,
        HookStage::NetworkOnline => Stage::Late,
    }
}

/// The unit that runs `stage`'s hooks.
pub fn unit_name(stage: Stage) -> String {
    format!("tandem-first-boot-{}.service", stage.name())
}

/// Written once every hook of `stage` has run (ok or not): the unit's condition, so later
/// boots do not even start the binary.
pub fn stage_stamp(stage: Stage) -> String {
    format!("{DIR}/stage-{}.done", stage.name())
}

/// The stages with at least one hook, in boot order. With a `[report]` the late stage is
/// always there: it reports the early hooks too, which ran before the network.
pub fn stages(answer: &Answer) -> Vec<Stage> {
    let hooks = answer.first_boot.iter().flat_map(|f| &f.hook);
    let any = hooks.clone().next().is_some();
    [Stage::Early, Stage::Late]
        .into_iter()
        .filter(|s| {
            hooks.clone().any(|h| stage(h.after) == *s)
                || (*s == Stage::Late && any && answer.report.is_some())
        })
        .collect()
}

pub fn files(answer: &Answer) -> Vec<RenderedFile> {
    let Some(fb) = answer.first_boot.as_ref().filter(|f| !f.hook.is_empty()) else {
        return vec![];
    };
    let cfg = NodeConfig {
        hooks: fb
            .hook
            .iter()
            .map(|h| HookEntry {
                name: h.name.clone(),
                stage: stage(h.after),
            })
            .collect(),
        report: answer.report.as_ref().map(|r| ReportTarget {
            url: r.url.clone(),
            fingerprint: r.fingerprint.clone(),
        }),
    };
    let json = serde_json::to_string_pretty(&cfg).unwrap_or_default() + "\n";
    let mut v = vec![RenderedFile::new(CONFIG, json)];
    for s in stages(answer) {
        v.push(RenderedFile::new(
            format!("/etc/systemd/system/{}", unit_name(s)),
            unit(s),
        ));
    }
    v
}

fn unit(s: Stage) -> String {
    let (what, order) = match s {
        // No default dependencies: they would order it after basic.target, which is after
        // network-pre.target. /var must be mounted, and the journal up to take the output.
        Stage::Early => (
            "before the network",
            "DefaultDependencies=no\n\
             Wants=network-pre.target\n\
             After=local-fs.target systemd-journald.socket systemd-tmpfiles-setup.service\n\
             Before=network-pre.target shutdown.target\n\
             Conflicts=shutdown.target\n",
        ),
        Stage::Late => (
            "once the network is online",
            "Wants=network-online.target\n\
             After=network-online.target networking.service\n",
        ),
    };
    format!(
        "{HEADER}\n\
         [Unit]\n\
         Description=Tandem: first-boot hooks {what}\n\
         Documentation=man:tandem(8)\n\
         ConditionPathExists={CONFIG}\n\
         ConditionPathExists=!{stamp}\n\
         {order}\n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart=/usr/sbin/tandem first-boot run --stage {name}\n\
         TimeoutStartSec=1h\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        stamp = stage_stamp(s),
        name = s.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::testutil::answer;

    #[test]
    fn one_unit_per_used_stage_and_no_secret_in_the_config() {
        let a = answer(|s| {
            format!(
                "{s}\n[report]\nurl = \"https://d.example/r\"\n\
                 [[first-boot.hook]]\nname = \"late-one\"\nscript = \"#!/bin/sh\\ntrue\\n\"\n"
            )
        });
        let f = files(&a);
        let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [CONFIG, "/etc/systemd/system/tandem-first-boot-late.service"]
        );
        let cfg: NodeConfig = serde_json::from_str(&f[0].content).unwrap();
        assert_eq!(cfg.hooks[0].stage, Stage::Late);
        assert_eq!(cfg.report.unwrap().url, "https://d.example/r");
        assert!(f[1]
            .content
            .contains("ExecStart=/usr/sbin/tandem first-boot run --stage late\n"));
        assert!(f[1].content.contains("After=network-online.target"));
        assert!(
            !f[0].content.contains("#!/bin/sh"),
            "scripts are not rendered"
        );
        assert!(files(&answer(|s| s.to_string())).is_empty());
    }

    #[test]
    fn the_early_unit_runs_before_the_network() {
        let u = unit(Stage::Early);
        assert!(u.contains("\nBefore=network-pre.target"), "{u}");
        assert!(u.contains("\nDefaultDependencies=no\n"), "{u}");
        assert!(u.contains("ConditionPathExists=!/var/lib/tandem/first-boot/stage-early.done"));
    }
}
