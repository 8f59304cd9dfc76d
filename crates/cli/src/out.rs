//! Writing the command's report to standard output, where a reader that
//! went away (`mandala interact … | head -1`) ends the command quietly
//! instead of with a panic, as a pipe's writer should.

use std::io::Write as _;

/// Writes one line; if the reader closed the pipe, ends the process with
/// status 0: nobody is left to read the rest.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{args}") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        // Anything else (a full disk behind a redirect) is not worth a
        // panic either; stderr still says what happened.
        Err(e) => eprintln!("error: cannot write to standard output: {e}"),
    }
}

/// `println!` for the command's report: see [`line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
