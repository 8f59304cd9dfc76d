//! The operations guide's "Manual jobs" section names the object a manual
//! job lands under; keep it true when the spec hash or the render version
//! changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mandala_model::Job;

#[test]
fn the_documented_manual_job_lands_where_the_readme_says() {
    let readme = include_str!("../../../docs/OPERATIONS.md");
    let section = readme
        .split("## Manual jobs")
        .nth(1)
        .expect("a Manual jobs section");
    let section = section.split("\n## ").next().unwrap();
    let job = Job::from_json(br#"{"spec":{"seed":42,"palette":"ocean"}}"#).unwrap();
    let name = job.spec.resolve().unwrap().object_name();
    assert!(
        section.contains(&name),
        "docs/OPERATIONS.md's Manual jobs section should name {name} for {{\"spec\":{{\"seed\":42,\"palette\":\"ocean\"}}}}"
    );
}
