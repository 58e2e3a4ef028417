//! The state-changing forms of the pages: plain HTML forms that POST (they work without
//! JavaScript), each carrying the caller's CSRF token in a hidden field named
//! [`CSRF_FIELD`]. Which buttons to show is the caller's business ([`Forms::allowed`]):
//! hiding a button is a courtesy, the server checks every POST.

use crate::html::escape_html;
use crate::query::encode_component;
use crate::routes;

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The rollout actions a page can offer, by their path word (`/ui/rollouts/{id}/{word}`).
pub const ROLLOUT_ACTIONS: [&str; 4] = ["pause", "resume", "approve", "cancel"];

/// What a page needs to render action forms for one caller: the caller's CSRF token and the
/// action words the caller's role allows (`pause`, `resume`, `approve`, `cancel`, `heal`,
/// `rollback`; a page offers only its own kind's words).
/// The default renders no form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forms {
    pub csrf: String,
    pub allowed: Vec<String>,
}

impl Forms {
    /// Does the caller's role allow `action`?
    pub fn allows(&self, action: &str) -> bool {
        !self.csrf.is_empty() && self.allowed.iter().any(|a| a == action)
    }
}

/// The path a rollout action posts to.
pub fn rollout_action_href(id: &str, action: &str) -> String {
    format!("{}{}/{action}", routes::ROLLOUTS, encode_component(id))
}

/// The path that starts a heal of an environment.
pub fn heal_href(environment: &str) -> String {
    environment_action_href(environment, "heal")
}

/// The path an environment action (`heal`, `rollback`) posts to.
pub fn environment_action_href(environment: &str, action: &str) -> String {
    format!(
        "{}{}/{action}",
        routes::ENVIRONMENTS,
        encode_component(environment)
    )
}

/// The path an execution action (`resume`, `cancel`) posts to.
pub fn execution_action_href(id: &str, action: &str) -> String {
    format!("{}{}/{action}", routes::EXECUTIONS, encode_component(id))
}

/// The link to a rollout's page.
pub fn rollout_href(id: &str) -> String {
    format!("{}{}", routes::ROLLOUTS, encode_component(id))
}

/// One form with one button that POSTs to `action` with the CSRF token.
pub fn push_form(h: &mut String, action: &str, label: &str, csrf: &str) {
    h.push_str("<form class=\"action\" method=\"post\" action=\"");
    h.push_str(&escape_html(action));
    h.push_str("\"><input type=\"hidden\" name=\"");
    h.push_str(CSRF_FIELD);
    h.push_str("\" value=\"");
    h.push_str(&escape_html(csrf));
    h.push_str("\"><button type=\"submit\">");
    h.push_str(&escape_html(label));
    h.push_str("</button></form>");
}

/// Which rollout actions make sense in state `state` (the domain refuses the others anyway;
/// this only keeps useless buttons off the page).
pub fn rollout_actions_in(state: &str) -> &'static [&'static str] {
    match state {
        "running" => &["pause", "cancel"],
        "waiting_approval" => &["approve", "pause", "cancel"],
        "paused" => &["resume", "cancel"],
        "failed" => &["resume", "cancel"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_carry_the_token_escaped() {
        let mut h = String::new();
        push_form(
            &mut h,
            &rollout_action_href("r/1", "pause"),
            "Pause",
            "a\"b",
        );
        assert!(h.contains("action=\"/ui/rollouts/r%2F1/pause\""), "{h}");
        assert!(h.contains("name=\"csrf\" value=\"a&quot;b\""), "{h}");
        assert!(h.contains("method=\"post\""));
    }

    #[test]
    fn no_token_no_action() {
        let f = Forms {
            csrf: String::new(),
            allowed: vec!["pause".into()],
        };
        assert!(!f.allows("pause"));
        let f = Forms {
            csrf: "t".into(),
            allowed: vec!["pause".into()],
        };
        assert!(f.allows("pause") && !f.allows("cancel"));
    }

    #[test]
    fn actions_follow_the_state() {
        assert_eq!(rollout_actions_in("running"), ["pause", "cancel"]);
        assert_eq!(rollout_actions_in("paused"), ["resume", "cancel"]);
        assert!(rollout_actions_in("succeeded").is_empty());
        assert!(rollout_actions_in("cancelled").is_empty());
    }
}
