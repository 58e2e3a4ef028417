//! The state-changing forms of the pages: plain HTML forms that POST (they work without
//! JavaScript), each carrying the caller's CSRF token in a hidden field named
//! [`CSRF_FIELD`]. Which buttons to show is the caller's business ([`Forms::allowed`]):
//! hiding a button is a courtesy, the server checks every POST.

use crate::html::escape_html;
use crate::query::encode_component;
use crate::routes;

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The rollout actions a page can offer, by their path word (`/ui/rollouts/{id}/{word}`):
/// four buttons and [`ROLLOUT_PARALLEL`], a form with the new parallelism.
pub const ROLLOUT_ACTIONS: [&str; 5] = ["pause", "resume", "approve", "cancel", ROLLOUT_PARALLEL];

/// The rollout action that changes how many of its targets run at once (`moorctl rollout
/// parallel ID N`); its form posts the number in [`PARALLEL_FIELD`].
pub const ROLLOUT_PARALLEL: &str = "parallel";

/// The field of the parallelism form that carries the new value.
pub const PARALLEL_FIELD: &str = "max_parallel";

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

/// A form that POSTs to `action`, opened, with the CSRF token as its hidden field.
fn open_form(h: &mut String, class: &str, action: &str, csrf: &str) {
    h.push_str("<form class=\"");
    h.push_str(class);
    h.push_str("\" method=\"post\" action=\"");
    h.push_str(&escape_html(action));
    h.push_str("\"><input type=\"hidden\" name=\"");
    h.push_str(CSRF_FIELD);
    h.push_str("\" value=\"");
    h.push_str(&escape_html(csrf));
    h.push_str("\">");
}

/// One form with one button that POSTs to `action` with the CSRF token.
pub fn push_form(h: &mut String, action: &str, label: &str, csrf: &str) {
    open_form(h, "action", action, csrf);
    h.push_str("<button type=\"submit\">");
    h.push_str(&escape_html(label));
    h.push_str("</button></form>");
}

/// The parallelism form: a number (at least 1, the current value filled in) and a button,
/// POSTed to `action` with the CSRF token.
pub fn push_parallel_form(h: &mut String, action: &str, current: u32, csrf: &str) {
    open_form(h, "action parallel", action, csrf);
    h.push_str("<label>Run at once <input type=\"number\" name=\"");
    h.push_str(PARALLEL_FIELD);
    h.push_str("\" min=\"1\" max=\"");
    h.push_str(&u32::MAX.to_string());
    h.push_str("\" step=\"1\" required value=\"");
    h.push_str(&current.to_string());
    h.push_str("\"></label><button type=\"submit\">Set parallelism</button></form>");
}

/// Can a rollout in state `state` still take a new parallelism? While it has targets to
/// run: running, waiting for approval, paused, or failed (it may be resumed).
pub fn parallel_settable(state: &str) -> bool {
    matches!(state, "running" | "waiting_approval" | "paused" | "failed")
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
        assert!(parallel_settable("running") && parallel_settable("failed"));
        assert!(!parallel_settable("succeeded") && !parallel_settable("cancelled"));
    }

    #[test]
    fn the_parallelism_form_posts_a_bounded_number() {
        let mut h = String::new();
        push_parallel_form(
            &mut h,
            &rollout_action_href("r1", ROLLOUT_PARALLEL),
            25,
            "t<",
        );
        assert!(h.contains("action=\"/ui/rollouts/r1/parallel\""), "{h}");
        assert!(h.contains("name=\"max_parallel\" min=\"1\""), "{h}");
        assert!(h.contains("value=\"25\""), "{h}");
        assert!(h.contains("name=\"csrf\" value=\"t&lt;\""), "{h}");
    }
}
