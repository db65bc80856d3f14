//! Blocklist refresh from a local web server on loopback inside a network
//! namespace (root only): the change is picked up on schedule, a 500, a cut
//! body or an empty list keep the old list (with the failure recorded and
//! an earlier retry), the ETag is honoured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../rampart-nft/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Lab, can_run};
use rampart_core::config::Config;
use rampart_firewall::blocklist::{ListDef, load_defs, save_defs};
use rampart_firewall::{Kernel, Layout, RefreshReport, refresh_due};
use rampart_store::Store;

const T0: i64 = 1_795_780_800;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn list(addrs: &[&str]) -> String {
    addrs.iter().map(|a| format!("{a}\n")).collect()
}

fn outcomes(r: &[RefreshReport]) -> Vec<&'static str> {
    r.iter().map(|x| x.outcome).collect()
}

fn requests(www: &Path) -> Vec<String> {
    std::fs::read_to_string(www.join("requests.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn blocklists_refresh_on_schedule_and_keep_the_old_list_on_failure() {
    if !can_run("blocklists_refresh_on_schedule_and_keep_the_old_list_on_failure") {
        return;
    }
    let lab = Lab::new("fwrefresh");
    let _servers = lab.serve();
    let tmp = tempfile::tempdir().unwrap();
    let (state, www) = (tmp.path().join("state"), tmp.path().join("www"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(
        www.join("list.txt"),
        list(&["192.0.2.4", "192.0.2.6", "203.0.113.0/24"]),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/listserver.py");
    let _web = Server(
        Command::new("ip")
            .args(["netns", "exec", &lab.srv.name, "python3", script, "18081"])
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut def = ListDef::new("feed", 3600, "in");
    def.url = Some("http://127.0.0.1:18081/list.txt".into());
    def.format = Some("plain".into());
    save_defs(&state, &[def]).unwrap();
    lab.srv.run(|| {
        let mut store = Store::open(state.join("rampart.db")).unwrap();
        let layout = Layout::load(&Config::default(), &state).unwrap();
        let mut kernel = Kernel::nftables(layout).unwrap();
        let mut refresh = |now: i64| refresh_due(&mut store, &mut kernel, &state, now).unwrap();
        // the first refresh is due at once (the server may still be starting)
        let mut r = refresh(T0);
        for i in 1..50 {
            if !r[0].failed() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let mut d = load_defs(&state).unwrap();
            d[0].next_due = None;
            save_defs(&state, &d).unwrap();
            r = refresh(T0 + i);
        }
        assert_eq!(outcomes(&r), ["loaded"], "{r:?}");
        lab_check(&lab, &[("192.0.2.4", false), ("192.0.2.5", true)]);
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        assert!((T0 + 3600..=T0 + 3600 + 400).contains(&due), "{due}");
        assert!(refresh(T0 + 60).is_empty(), "not due yet");
        // the list changes on the server: picked up when due
        std::fs::write(www.join("list.txt"), list(&["192.0.2.5", "203.0.113.0/24"])).unwrap();
        assert_eq!(outcomes(&refresh(due)), ["loaded"]);
        lab_check(&lab, &[("192.0.2.4", true), ("192.0.2.5", false)]);
        // unchanged: a conditional request, answered 304
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        assert_eq!(outcomes(&refresh(due)), ["not-modified"]);
        let log = requests(&www);
        let last = log.last().unwrap();
        assert!(
            last.starts_with("304 \""),
            "the ETag was sent and honoured: {log:?}"
        );
        // a 500: the old list stays, the failure is recorded, retried sooner
        std::fs::write(www.join("mode"), "500").unwrap();
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        let r = refresh(due);
        assert_eq!(outcomes(&r), ["failed"]);
        assert!(r[0].message.contains("500"), "{r:?}");
        let d = &load_defs(&state).unwrap()[0];
        assert_eq!(d.failures, 1);
        assert!(d.last_error.as_deref().unwrap().contains("500"));
        assert!(
            d.next_due.unwrap() <= due + 300 + 30,
            "a failure is retried in about 5 minutes"
        );
        lab_check(&lab, &[("192.0.2.5", false)]);
        // a cut body: kept
        std::fs::write(www.join("mode"), "truncate").unwrap();
        std::fs::write(
            www.join("list.txt"),
            list(&["192.0.2.7", "192.0.2.8", "192.0.2.9"]),
        )
        .unwrap();
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        assert_eq!(outcomes(&refresh(due)), ["failed"]);
        assert_eq!(load_defs(&state).unwrap()[0].failures, 2);
        lab_check(&lab, &[("192.0.2.5", false), ("192.0.2.7", true)]);
        // an empty list: kept
        std::fs::write(www.join("mode"), "").unwrap();
        std::fs::write(www.join("list.txt"), "# nothing today\n").unwrap();
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        assert_eq!(outcomes(&refresh(due)), ["failed"]);
        lab_check(&lab, &[("192.0.2.5", false)]);
        // the server recovers
        std::fs::write(www.join("list.txt"), list(&["192.0.2.7"])).unwrap();
        let due = load_defs(&state).unwrap()[0].next_due.unwrap();
        assert_eq!(outcomes(&refresh(due)), ["loaded"]);
        let d = &load_defs(&state).unwrap()[0];
        assert_eq!((d.failures, d.last_error.clone(), d.entries), (0, None, 1));
        lab_check(&lab, &[("192.0.2.5", true), ("192.0.2.7", false)]);
    });
}

/// Real traffic: (client address, whether it reaches the server).
fn lab_check(lab: &Lab, want: &[(&str, bool)]) {
    std::thread::scope(|s| {
        for (a, reach) in want {
            s.spawn(move || assert_eq!(lab.reaches(a), *reach, "{a} reaches the server?"));
        }
    });
}
