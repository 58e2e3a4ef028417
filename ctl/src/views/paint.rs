//! [`Paint`]: colour in tables, on a terminal only. A table is the same text with or without
//! it; colour only marks what needs attention (a suspended heal, a drifted resource), so a
//! pipe, a log or `NO_COLOR` (no-color.org) gets plain text that reads the same.

use std::io::IsTerminal;

/// How a table's highlights are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// No escape sequences at all.
    Plain,
    /// ANSI colours (SGR), each reset at the end of its text.
    Ansi,
}

impl Paint {
    /// Colour when standard output is a terminal that takes it: not when `NO_COLOR` is set
    /// to anything but the empty string, nor for `TERM=dumb`. Tests always get plain text,
    /// whatever runs them.
    pub fn for_stdout() -> Paint {
        if cfg!(test) {
            return Paint::Plain;
        }
        Paint::decide(
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var_os("TERM").is_some_and(|t| t == "dumb"),
            std::io::stdout().is_terminal(),
        )
    }

    /// The choice [`Paint::for_stdout`] makes, from what it reads.
    pub fn decide(no_color: bool, dumb_terminal: bool, terminal: bool) -> Paint {
        if terminal && !no_color && !dumb_terminal {
            Paint::Ansi
        } else {
            Paint::Plain
        }
    }

    /// Something people must act on: bold yellow, as a warning.
    pub fn warn(self, text: &str) -> String {
        self.sgr("1;33", text)
    }

    /// What is as it should be: green.
    pub fn good(self, text: &str) -> String {
        self.sgr("32", text)
    }

    /// What differs from what it should be: red.
    pub fn bad(self, text: &str) -> String {
        self.sgr("31", text)
    }

    fn sgr(self, code: &str, text: &str) -> String {
        match self {
            Paint::Plain => text.to_string(),
            Paint::Ansi => format!("\x1b[{code}m{text}\x1b[0m"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        assert_eq!(Paint::decide(false, false, true), Paint::Ansi);
        assert_eq!(Paint::decide(false, false, false), Paint::Plain);
        assert_eq!(Paint::decide(true, false, true), Paint::Plain);
        assert_eq!(Paint::decide(false, true, true), Paint::Plain);
        assert_eq!(Paint::for_stdout(), Paint::Plain);
        assert_eq!(Paint::Plain.warn("x"), "x");
        assert_eq!(Paint::Ansi.bad("x"), "\x1b[31mx\x1b[0m");
    }
}
