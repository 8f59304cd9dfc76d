//! A missing or contradictory setting stops the binary before it takes its
//! port: one line naming the variable, exit status 2, no "listening", and no
//! backtrace whatever RUST_BACKTRACE says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const KEY: &str = "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12";

fn run(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mandala-ingress"));
    c.env_clear()
        .env("PORT", "0")
        .env("RUST_BACKTRACE", "1")
        .env("DISCORD_PUBLIC_KEY", KEY);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), all)
}

#[test]
fn bad_settings_stop_it_before_it_listens() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "PUBSUB_TOPIC"),
        (
            &[
                ("LOCAL_PUSH_URL", "http://127.0.0.1:9/push"),
                ("PUBSUB_TOPIC", "projects/p/topics/t"),
            ],
            "LOCAL_PUSH_URL",
        ),
        (
            &[("PUBSUB_TOPIC", "projects/p/topics/t")],
            "FIRESTORE_DATABASE",
        ),
        (
            &[
                ("LOCAL_PUSH_URL", "http://127.0.0.1:9/push"),
                ("ANSWER_BUDGET_MS", "9000"),
            ],
            "ANSWER_BUDGET_MS",
        ),
    ];
    for (env, var) in cases {
        let (code, out) = run(env);
        assert_eq!(code, Some(2), "{env:?}: {out}");
        assert!(out.contains(var), "{env:?} does not name {var}: {out}");
        assert!(!out.contains("listening"), "{env:?} listened first: {out}");
        assert!(
            !out.contains("backtrace") && !out.contains("panicked"),
            "{env:?}: {out}"
        );
    }
}
