//! A missing or contradictory setting stops the binary at start with a
//! message naming the variable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mandala-worker"));
    // Many developer machines set it: a bad setting must still be one line.
    c.env_clear().env("PORT", "0").env("RUST_BACKTRACE", "1");
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_name_their_variable() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().to_str().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "BUCKET"),
        (
            &[("BUCKET", "renders"), ("LOCAL_STORE_DIR", local)],
            "BUCKET",
        ),
        (
            &[
                ("LOCAL_STORE_DIR", local),
                ("PUSH_SERVICE_ACCOUNT", "a@b.iam.gserviceaccount.com"),
            ],
            "PUSH_SERVICE_ACCOUNT",
        ),
        (
            &[
                ("LOCAL_STORE_DIR", local),
                ("DISCORD_API_BASE", "not a url"),
            ],
            "DISCORD_API_BASE",
        ),
        (
            &[("LOCAL_STORE_DIR", local), ("RENDER_CONCURRENCY", "0")],
            "RENDER_CONCURRENCY",
        ),
        (
            &[("LOCAL_STORE_DIR", local), ("JOB_DEADLINE_SECS", "3600")],
            "JOB_DEADLINE_SECS",
        ),
        (
            &[
                ("LOCAL_STORE_DIR", local),
                ("HTTP_BODY_READ_TIMEOUT_MS", "5"),
            ],
            "HTTP_BODY_READ_TIMEOUT_MS",
        ),
        (
            &[("LOCAL_STORE_DIR", local), ("HTTP_MAX_CONNECTIONS", "0")],
            "HTTP_MAX_CONNECTIONS",
        ),
        // No push authentication without saying the run is local.
        (&[("LOCAL_STORE_DIR", local)], "PUSH_AUDIENCE"),
        (
            &[
                ("LOCAL_STORE_DIR", local),
                ("PUSH_AUTH", "none"),
                ("PUSH_AUDIENCE", "https://w"),
            ],
            "PUSH_AUTH",
        ),
        (
            &[("LOCAL_STORE_DIR", local), ("PUSH_AUTH", "off")],
            "PUSH_AUTH",
        ),
        (
            &[
                ("LOCAL_STORE_DIR", local),
                ("PUSH_AUTH", "none"),
                ("STALL_AFTER_SECS", "30"),
            ],
            "STALL_AFTER_SECS",
        ),
    ];
    for (env, var) in cases {
        let (ok, stderr) = run(env);
        assert!(!ok, "{env:?} started");
        assert!(
            stderr.contains(var),
            "{env:?}: stderr does not name {var}: {stderr}"
        );
        assert!(
            !stderr.contains("backtrace") && !stderr.contains("panicked"),
            "{env:?}: a setting's error came with a backtrace: {stderr}"
        );
    }
}
