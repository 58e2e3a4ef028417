//! [`MessageView`]: a one-line answer to a change (`group g deleted`).

use serde::Serialize;

use super::View;

/// A change's result as one line for people and `{"message": ...}` for programs.
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub message: String,
}

impl View for MessageView {
    fn table(&self) -> String {
        self.message.clone()
    }
}
