//! Progress bars on stderr, drawn only when stderr is a terminal (scripts and logs get none).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting bytes (filling a container with random bytes).
pub fn bytes(message: &'static str, total: u64) -> ProgressBar {
    bar(
        message,
        total,
        "{msg} {wide_bar} {bytes}/{total_bytes} ({eta} left)",
    )
}

/// A bar counting blocks (checking a container).
pub fn blocks(message: &'static str, total: u64) -> ProgressBar {
    bar(
        message,
        total,
        "{msg} {wide_bar} {pos}/{len} blocks ({eta} left)",
    )
}

/// A bar counting files (checking the file system).
pub fn files(message: &'static str, total: u64) -> ProgressBar {
    bar(
        message,
        total,
        "{msg} {wide_bar} {pos}/{len} files ({eta} left)",
    )
}

/// A spinner for work without a measure of progress (compacting before a shrink).
pub fn spinner(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .expect("the progress templates are valid");
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

fn bar(message: &'static str, total: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(template)
        .expect("the progress templates are valid")
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(message)
}

/// Adapt a bar to the core's `(done, total)` progress callbacks.
pub fn update(bar: &ProgressBar, done: u64, total: u64) {
    bar.set_length(total);
    bar.set_position(done);
}
