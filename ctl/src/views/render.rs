//! [`View`]: one struct per kind of result, rendered as a table for people or as JSON /
//! YAML for programs; and writing the result to standard output.

use std::io::{self, Write};

use serde::Serialize;

use super::paint::Paint;
use crate::cli::OutputFormat;

/// A result that can be shown in every output format.
pub trait View: Serialize {
    /// The table form, without a trailing newline.
    fn table(&self) -> String;

    /// The table form with its highlights in `paint`; the same text as [`View::table`]
    /// unless the view has something to highlight.
    fn painted(&self, _paint: Paint) -> String {
        self.table()
    }
}

/// Renders `view` in `format`, ending with a newline; tables without colour.
pub fn render<V: View>(view: &V, format: OutputFormat) -> anyhow::Result<String> {
    render_painted(view, format, Paint::Plain)
}

/// [`render`], a table's highlights in `paint`.
fn render_painted<V: View>(view: &V, format: OutputFormat, paint: Paint) -> anyhow::Result<String> {
    let mut text = match format {
        OutputFormat::Table => view.painted(paint),
        OutputFormat::Json => serde_json::to_string_pretty(view)?,
        OutputFormat::Yaml => serde_yaml_ng::to_string(view)?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Writes `text` to standard output. A closed pipe (`moorctl var list | head`) is not an
/// error: the reader has what it wanted.
pub fn emit(text: &str) -> anyhow::Result<()> {
    if cfg!(test) {
        // The test harness captures `print!`, not writes to the stdout handle.
        print!("{text}");
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Renders `view` in `format` and writes it to standard output, a table in colour when
/// standard output takes it ([`Paint::for_stdout`]).
pub fn show<V: View>(view: &V, format: OutputFormat) -> anyhow::Result<()> {
    emit(&render_painted(view, format, Paint::for_stdout())?)
}
