//! Views of moorctl's config file: the file, its contexts, and the settings a command line
//! resolves to. Token files appear as paths; no view here ever holds a token.

use serde::{Serialize, Serializer};

use super::cells::dash;
use super::table::{fields, grid};
use super::View;

/// `config view`: the file as it is (JSON and YAML: the file's own structure).
pub struct ConfigView<F: Serialize> {
    pub path: String,
    pub exists: bool,
    pub file: F,
}

impl<F: Serialize> Serialize for ConfigView<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.file.serialize(s)
    }
}

impl<F: Serialize> View for ConfigView<F> {
    fn table(&self) -> String {
        let head = if self.exists {
            format!("# {}", self.path)
        } else {
            format!(
                "# {} does not exist yet (`moorctl config set-context NAME ...` creates it)",
                self.path
            )
        };
        let body = serde_yaml_ng::to_string(&self.file).unwrap_or_default();
        format!("{head}\n{}", body.trim_end())
    }
}

/// One context in `config get-contexts`.
#[derive(Debug, Serialize)]
pub struct ContextRow {
    pub current: bool,
    pub name: String,
    pub endpoints: Vec<String>,
    /// `tls` or `plaintext`.
    pub transport: &'static str,
    /// `token file PATH`, `certificate PATH`, both, or none.
    pub credentials: Vec<String>,
}

/// `config get-contexts`.
#[derive(Debug, Serialize)]
pub struct ContextsView {
    pub contexts: Vec<ContextRow>,
}

impl View for ContextsView {
    fn table(&self) -> String {
        let rows = self
            .contexts
            .iter()
            .map(|c| {
                vec![
                    if c.current { "*" } else { "" }.to_string(),
                    c.name.clone(),
                    dash(&c.endpoints.join(",")),
                    c.transport.to_string(),
                    dash(&c.credentials.join(", ")),
                ]
            })
            .collect();
        let header = ["CURRENT", "NAME", "ENDPOINTS", "TRANSPORT", "CREDENTIALS"];
        grid(Some(&header), rows, &[])
    }
}

/// `config view --effective`: what this command line would use, and where each part came
/// from.
#[derive(Debug, Serialize)]
pub struct EffectiveView {
    pub config_file: String,
    pub context: Option<String>,
    pub endpoints: Vec<String>,
    pub endpoints_from: String,
    /// `tls` or `plaintext`.
    pub transport: &'static str,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub server_name: Option<String>,
    /// Where the token comes from (a file or `MOOR_TOKEN`); never the token.
    pub token_from: Option<String>,
}

impl View for EffectiveView {
    fn table(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        fields(vec![
            ("config file", self.config_file.clone()),
            ("context", opt(&self.context)),
            (
                "endpoints",
                format!(
                    "{} (from {})",
                    self.endpoints.join(","),
                    self.endpoints_from
                ),
            ),
            ("transport", self.transport.to_string()),
            ("ca file", opt(&self.ca_file)),
            ("client certificate", opt(&self.cert_file)),
            ("server name", opt(&self.server_name)),
            ("token", opt(&self.token_from)),
        ])
    }
}
