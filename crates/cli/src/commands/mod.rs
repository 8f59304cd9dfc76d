//! One module per subcommand.

pub mod dev;
pub mod gallery;
pub mod interact;
pub mod lab;
pub mod load;
pub mod palettes;
pub mod publish;
pub mod register_commands;
pub mod render;
