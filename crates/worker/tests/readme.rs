//! The README stays true: the "Manual jobs" section names the object a
//! manual job lands under, and the configuration table lists every setting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mandala_model::Job;

#[test]
fn the_documented_manual_job_lands_where_the_readme_says() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## Manual jobs")
        .nth(1)
        .expect("a Manual jobs section");
    let section = section.split("\n## ").next().unwrap();
    let job = Job::from_json(br#"{"spec":{"seed":42,"palette":"ocean"}}"#).unwrap();
    let name = job.spec.resolve().unwrap().object_name();
    assert!(
        section.contains(&name),
        "README's Manual jobs section should name {name} for {{\"spec\":{{\"seed\":42,\"palette\":\"ocean\"}}}}"
    );
}

#[test]
fn the_readme_lists_every_setting() {
    use clap::CommandFactory as _;
    let readme = include_str!("../../../README.md");
    let table = readme
        .split("### `mandala-worker`")
        .nth(1)
        .expect("a mandala-worker configuration table");
    let table = table.split("\n#").next().unwrap();
    for arg in mandala_worker::Config::command().get_arguments() {
        if let Some(var) = arg.get_env() {
            let var = var.to_string_lossy();
            assert!(
                table.contains(&format!("| `{var}` |")),
                "README's mandala-worker table does not list {var}"
            );
        }
    }
}
