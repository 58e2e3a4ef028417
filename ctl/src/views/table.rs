//! Borderless tables in the style of kubectl, for lists and for label / value pairs.

use comfy_table::{presets, CellAlignment, Table};

/// A borderless table in the style of kubectl: columns two spaces apart, no trailing blanks.
pub(crate) fn grid(
    header: Option<&[&str]>,
    rows: Vec<Vec<String>>,
    right_aligned: &[usize],
) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    if let Some(h) = header {
        t.set_header(h.to_vec());
    }
    for row in rows {
        t.add_row(row);
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for &i in right_aligned {
        if let Some(column) = t.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.trim_fmt()
}

/// Label / value lines, for a single result.
pub(crate) fn fields(rows: Vec<(&str, String)>) -> String {
    grid(
        None,
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
        &[],
    )
}
