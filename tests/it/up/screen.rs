//! What `up`'s live lines leave on a real terminal when Ctrl-C stops the wait: every service's
//! line in its last state, once each (issue #21: the unfinished lines were wiped and a finished
//! one drawn twice, as the terminal's `^C` echo moved the cursor under indicatif's redraw). The
//! terminal is tmux's (send-keys C-c, capture-pane), on a tmux server of this test's own.

use super::*;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "up"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_leaves_every_line_in_its_last_state_once() {
    if support::which("tmux").is_none() {
        support::gate::skip_or_fail("tmux (a terminal for the live lines)");
        return;
    }
    let mut config = support::sim::timing(150, Some(100));
    config.ready_delays.push(k8s_sim::ReadyDelay {
        target: svc("vespa"),
        ms: 600_000,
        after: Vec::new(),
    });
    let e = Env::start(config).await;
    let home = e.home().display().to_string();
    let script = format!(
        "env -u KUBECONFIG HOME={home} XDG_CONFIG_HOME={home}/config XDG_DATA_HOME={home}/xdg-data \
         XDG_CACHE_HOME={home}/cache ONYX_NO_UPDATE_CHECK=1 NO_COLOR=1 \
         DOCKER_HOST=unix:///nonexistent/docker.sock {} up --profile small --force --no-browser \
         --timeout 10m --kubeconfig {} --context sim -n {NS}; echo EXIT=$?; sleep 120",
        env!("CARGO_BIN_EXE_onyx"),
        e.kubeconfig.display()
    );
    let tmux = Tmux {
        socket: format!("onyx-test-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "up",
        "-x",
        "120",
        "-y",
        "50",
        &script,
    ]);
    // Wait until every other service is ready and Vespa is still on its way.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = tmux.screen();
        let ready = screen.matches("ready in").count();
        if ready == SERVICES.len() - 1 && screen.contains("vespa") {
            break;
        }
        assert!(Instant::now() < deadline, "{screen}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    tmux.run(&["send-keys", "-t", "up", "C-c"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let screen = loop {
        let screen = tmux.screen();
        if screen.contains("EXIT=") {
            break screen;
        }
        assert!(Instant::now() < deadline, "{screen}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(screen.contains("error: interrupted"), "{screen}");
    for s in SERVICES {
        let lines: Vec<&str> = screen
            .lines()
            // After the spinner (or its blank) and a space.
            .filter(|l| {
                l.chars()
                    .skip(2)
                    .collect::<String>()
                    .starts_with(&format!("{s} "))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{s}: {lines:?}\n{screen}");
        if *s == "vespa" {
            assert!(lines[0].contains("pulling"), "{screen}");
        } else {
            assert!(lines[0].contains("ready in"), "{screen}");
        }
    }
}
