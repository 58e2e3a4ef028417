//! Views of tokens (never their secrets, except the one just created, once), roles and
//! who the credentials are.

use moor_proto::auth as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::{fields, grid};
use super::time::utc;
use super::View;

/// One token, as listed: its public id and what it may do.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: String,
    pub role: String,
    pub groups: Vec<String>,
    pub blueprints: Vec<String>,
    pub description: String,
    pub created_by: String,
    pub created_ms: u64,
    /// 0: never.
    pub expires_ms: u64,
    pub revoked: bool,
    pub revoked_ms: u64,
}

impl From<&pb::TokenInfo> for TokenView {
    fn from(t: &pb::TokenInfo) -> Self {
        TokenView {
            id: t.id.clone(),
            role: t.role.clone(),
            groups: t.groups.clone(),
            blueprints: t.blueprints.clone(),
            description: t.description.clone(),
            created_by: t.created_by.clone(),
            created_ms: t.created_at_ms,
            expires_ms: t.expires_at_ms,
            revoked: t.revoked,
            revoked_ms: t.revoked_at_ms,
        }
    }
}

/// `groups a,b blueprints c`, or `-` for no restriction.
fn scope(groups: &[String], blueprints: &[String]) -> String {
    let mut parts = Vec::new();
    if !groups.is_empty() {
        parts.push(format!("groups {}", groups.join(",")));
    }
    if !blueprints.is_empty() {
        parts.push(format!("blueprints {}", blueprints.join(",")));
    }
    dash(&parts.join(" "))
}

fn expiry(ms: u64) -> String {
    if ms == 0 {
        "never".into()
    } else {
        utc(ms)
    }
}

impl TokenView {
    fn status(&self) -> String {
        if self.revoked {
            format!("revoked {}", utc(self.revoked_ms))
        } else {
            "active".into()
        }
    }
}

impl View for TokenView {
    fn table(&self) -> String {
        fields(vec![
            ("id", escape_controls(&self.id)),
            ("role", escape_controls(&self.role)),
            ("scope", scope(&self.groups, &self.blueprints)),
            ("description", dash(&self.description)),
            ("created by", dash(&self.created_by)),
            ("created", utc(self.created_ms)),
            ("expires", expiry(self.expires_ms)),
            ("status", self.status()),
        ])
    }
}

/// `auth token list`.
#[derive(Debug, Serialize)]
pub struct TokenListView {
    pub tokens: Vec<TokenView>,
}

impl View for TokenListView {
    fn table(&self) -> String {
        let rows = self
            .tokens
            .iter()
            .map(|t| {
                vec![
                    escape_controls(&t.id),
                    escape_controls(&t.role),
                    scope(&t.groups, &t.blueprints),
                    expiry(t.expires_ms),
                    t.status(),
                    dash(&t.description),
                ]
            })
            .collect();
        let header = ["ID", "ROLE", "SCOPE", "EXPIRES", "STATUS", "DESCRIPTION"];
        grid(Some(&header), rows, &[])
    }
}

/// `auth token create`: the token itself (shown this once), or where it was written.
/// No `Debug`: it may hold the token.
#[derive(Serialize)]
pub struct TokenCreatedView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub info: TokenView,
}

impl View for TokenCreatedView {
    fn table(&self) -> String {
        match (&self.token, &self.file) {
            (Some(token), _) => token.clone(),
            (None, Some(file)) => format!("token {} written to {file}", self.info.id),
            (None, None) => format!("token {} created", self.info.id),
        }
    }
}

/// `auth whoami`.
#[derive(Debug, Serialize)]
pub struct WhoAmIView {
    pub identity: String,
    pub role: String,
    pub groups: Vec<String>,
    pub blueprints: Vec<String>,
    pub operations: Vec<String>,
    /// 0: never.
    pub expires_ms: u64,
}

impl From<&pb::WhoAmIResponse> for WhoAmIView {
    fn from(w: &pb::WhoAmIResponse) -> Self {
        WhoAmIView {
            identity: w.identity.clone(),
            role: w.role.clone(),
            groups: w.groups.clone(),
            blueprints: w.blueprints.clone(),
            operations: w.operations.clone(),
            expires_ms: w.expires_at_ms,
        }
    }
}

impl View for WhoAmIView {
    fn table(&self) -> String {
        fields(vec![
            ("identity", escape_controls(&self.identity)),
            ("role", escape_controls(&self.role)),
            ("scope", scope(&self.groups, &self.blueprints)),
            ("expires", expiry(self.expires_ms)),
            ("may call", dash(&self.operations.join(", "))),
        ])
    }
}

/// One role.
#[derive(Debug, Serialize)]
pub struct RoleView {
    pub name: String,
    pub operations: Vec<String>,
    /// Empty: any name.
    pub names: Vec<String>,
    pub builtin: bool,
}

impl From<&pb::Role> for RoleView {
    fn from(r: &pb::Role) -> Self {
        RoleView {
            name: r.name.clone(),
            operations: r.operations.clone(),
            names: r.names.clone(),
            builtin: r.builtin,
        }
    }
}

impl RoleView {
    fn row(&self) -> Vec<String> {
        vec![
            escape_controls(&self.name),
            if self.builtin { "built-in" } else { "custom" }.into(),
            dash(&self.operations.join(",")),
            if self.names.is_empty() {
                "(any)".into()
            } else {
                escape_controls(&self.names.join(","))
            },
        ]
    }
}

const ROLE_HEADER: [&str; 4] = ["NAME", "KIND", "OPERATIONS", "NAMES"];

impl View for RoleView {
    fn table(&self) -> String {
        grid(Some(&ROLE_HEADER), vec![self.row()], &[])
    }
}

/// `auth role list`.
#[derive(Debug, Serialize)]
pub struct RoleListView {
    pub roles: Vec<RoleView>,
}

impl View for RoleListView {
    fn table(&self) -> String {
        grid(
            Some(&ROLE_HEADER),
            self.roles.iter().map(RoleView::row).collect(),
            &[],
        )
    }
}
