//! The README's configuration table lists every setting the binary reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::CommandFactory as _;

#[test]
fn the_readme_lists_every_setting() {
    let readme = include_str!("../../../README.md");
    let table = readme
        .split("### `mandala-ingress`")
        .nth(1)
        .expect("a mandala-ingress configuration table");
    let table = table.split("\n#").next().unwrap();
    for arg in mandala_ingress::config::Config::command().get_arguments() {
        if let Some(var) = arg.get_env() {
            let var = var.to_string_lossy();
            assert!(
                table.contains(&format!("| `{var}` |")),
                "README's mandala-ingress table does not list {var}"
            );
        }
    }
}
