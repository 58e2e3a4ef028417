//! What moorctl tells people beyond the result: what to do next after a member's refusal,
//! and that a list came back empty.

use anyhow::Result;
use tonic::Code;

use crate::cli::OutputFormat;
use crate::client::RpcError;

/// Tells people on standard error that a list is empty (the table shows only its header).
pub(super) fn say_if_empty(empty: bool, format: OutputFormat, what: &str) {
    if empty && format == OutputFormat::Table {
        eprintln!("moorctl: {what}");
    }
}

/// What to do about a member's refusal, when moorctl knows better than the bare message.
/// The member's messages name the subject first (`site edge-9 not found`, `blueprint
/// revision webshop@9 (it has 3 revisions) not found`), which is what this reads.
pub fn next_step(err: &RpcError) -> Option<String> {
    let RpcError::Rejected { status, .. } = err else {
        return None;
    };
    let msg = status.message();
    let mut words = msg.split_whitespace();
    if status.code() == Code::FailedPrecondition {
        return match (words.next()?, words.next()?, words.next()?, words.next()?) {
            ("environment", env, "already", "exists:") => Some(format!(
                "environment {env} already exists; change it with `moorctl exec start {env} \
                 --kind update`"
            )),
            _ => None,
        };
    }
    if status.code() != Code::NotFound {
        return None;
    }
    let (kind, name) = (words.next()?, words.next()?);
    Some(match (kind, name) {
        ("site", site) => format!(
            "site {site} does not exist; create it with `moorctl apply -f sites.yaml` \
             (`moorctl site list` shows the sites there are)"
        ),
        ("blueprint", "revision") => {
            let name = words.next()?.split('@').next()?;
            format!(
                "no such revision; `moorctl blueprint revisions {name}` lists the revisions \
                 there are"
            )
        }
        ("blueprint", bp) => format!(
            "blueprint {bp} does not exist; create it with `moorctl apply -f {bp}.yaml` \
             (`moorctl blueprint list` shows the blueprints there are)"
        ),
        ("environment", env) => format!(
            "environment {env} does not exist; create it with `moorctl env create {env} \
             --site SITE --blueprint BLUEPRINT` (`moorctl env list` shows the environments \
             there are)"
        ),
        ("execution", id) => format!(
            "execution {id} does not exist; `moorctl exec list` shows the executions there are"
        ),
        ("receiver", r) => format!(
            "receiver {r} does not exist; create it with `moorctl receiver create {r} --type \
             TYPE --secret-file FILE` (`moorctl receiver list` shows the receivers there are)"
        ),
        ("source", s) => format!(
            "source {s} does not exist; add it with `moorctl source add {s} --url URL` \
             (`moorctl source list` shows the sources there are)"
        ),
        ("trigger", t) => format!(
            "trigger {t} does not exist; `moorctl trigger list` shows the triggers there are"
        ),
        ("group", g) => format!(
            "group {g} does not exist; create it with `moorctl group put {g} --of \
             environments` (`moorctl group list` shows the groups there are)"
        ),
        _ => return None,
    })
}

/// What to do after a refusal by access control anywhere in `err`'s chain: for
/// UNAUTHENTICATED, how to give credentials; for PERMISSION_DENIED (whose message names the
/// missing permission), how to see what these credentials allow.
pub fn access_hint(err: &anyhow::Error) -> Option<&'static str> {
    let code = err
        .chain()
        .find_map(|e| e.downcast_ref::<RpcError>().and_then(RpcError::code))?;
    match code {
        Code::Unauthenticated => Some(
            "pass a token (--token-file or MOOR_TOKEN) or a client certificate, or pick a \
             context (moorctl config use-context)",
        ),
        Code::PermissionDenied => Some(
            "these credentials may not do this (the member named the permission above); \
             `moorctl auth whoami` shows what they may do; ask an admin for a token whose \
             role allows it",
        ),
        _ => None,
    }
}

/// What to do when a member refused a blueprint with a message that lists only its first
/// problems (it then ends `… and N more: ...`, to fit in an HTTP/2 header): the command that
/// lists them all. `file` is the blueprint's file as given on the command line.
pub(super) fn see_all_problems(message: &str, file: &str) -> Option<String> {
    let last = message.lines().last()?;
    let last = last.trim_start_matches(['…', '.', ' ']);
    (last.starts_with("and ") && last.contains(" more")).then(|| {
        format!(
            "only the first problems are listed above; `moorctl blueprint validate {file}` \
             lists them all"
        )
    })
}

/// Wraps a failed workflow call in `what` ("cannot show site x"), followed by what to do
/// next when moorctl knows it.
pub(super) fn failed(err: RpcError, what: String) -> anyhow::Error {
    match next_step(&err) {
        Some(next) => anyhow::Error::new(err).context(format!("{what}: {next}")),
        None => anyhow::Error::new(err).context(what),
    }
}

/// Wraps a failed group or rollout call in `what`, with where to look when something named
/// does not exist.
pub(super) fn rollout_failed(err: RpcError, what: String) -> anyhow::Error {
    match err.code() {
        Some(Code::NotFound) => anyhow::Error::new(err).context(format!(
            "{what}; `moorctl rollout list` and `moorctl group list` show what exists; create \
             a group with `moorctl group put`"
        )),
        _ => anyhow::Error::new(err).context(what),
    }
}

/// Extension to add [`failed`]'s context to a call's result.
pub(super) trait CallContext<T> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> CallContext<T> for std::result::Result<T, RpcError> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| failed(e, what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: Code, msg: &str) -> RpcError {
        RpcError::Rejected {
            endpoint: "a:1".into(),
            status: tonic::Status::new(code, msg),
        }
    }

    #[test]
    fn not_found_says_what_to_do() {
        let hint = |m: &str| next_step(&rejected(Code::NotFound, m));
        assert!(hint("site edge-9 not found")
            .unwrap()
            .contains("moorctl apply -f sites.yaml"));
        assert!(hint("blueprint shop not found")
            .unwrap()
            .contains("moorctl apply -f shop.yaml"));
        assert!(
            hint("blueprint revision shop@9 (it has 3 revisions) not found")
                .unwrap()
                .contains("moorctl blueprint revisions shop`")
        );
        assert!(hint("environment web-1 not found")
            .unwrap()
            .contains("moorctl env create web-1"));
        assert!(hint("execution x9 not found")
            .unwrap()
            .contains("moorctl exec list"));
        assert!(hint("receiver ci not found")
            .unwrap()
            .contains("moorctl receiver create ci --type"));
        assert!(hint("source shop not found")
            .unwrap()
            .contains("moorctl source add shop --url"));
        assert!(hint("trigger t not found")
            .unwrap()
            .contains("moorctl trigger list"));
        assert!(hint("group eu not found")
            .unwrap()
            .contains("moorctl group put eu"));
        assert!(
            hint("site s (create it with `moorctl apply -f` first) not found")
                .unwrap()
                .starts_with("site s does not exist")
        );
        assert_eq!(
            next_step(&rejected(Code::FailedPrecondition, "site s not found")),
            None
        );
        let exists = rejected(
            Code::FailedPrecondition,
            "environment web-1 already exists: start an update on it instead",
        );
        assert!(next_step(&exists)
            .unwrap()
            .contains("moorctl exec start web-1 --kind update"));
        assert_eq!(next_step(&rejected(Code::InvalidArgument, "x")), None);
    }

    #[test]
    fn access_control_says_what_to_do() {
        let err = |code, msg| anyhow::Error::new(rejected(code, msg)).context("cannot put k");
        let hint = access_hint(&err(Code::Unauthenticated, "no credentials")).unwrap();
        assert!(hint.contains("--token-file or MOOR_TOKEN"), "{hint}");
        assert!(hint.contains("moorctl config use-context"), "{hint}");
        let hint = access_hint(&err(Code::PermissionDenied, "may not call kv.put")).unwrap();
        assert!(hint.contains("moorctl auth whoami"), "{hint}");
        assert_eq!(access_hint(&err(Code::NotFound, "x")), None);
    }

    #[test]
    fn a_cut_list_of_problems_points_at_validate() {
        let cut = "blueprint bp.yaml is not valid: 150 problem(s)\n\
                   bp.yaml:1:3: error: unknown resource type `more`\n\
                   … and 149 more: run `moorctl blueprint validate bp.yaml` to list them all";
        let hint = see_all_problems(cut, "./bp.yaml").unwrap();
        assert!(
            hint.contains("`moorctl blueprint validate ./bp.yaml`"),
            "{hint}"
        );
        let whole = "blueprint bp.yaml is not valid: 1 problem(s)\n\
                     bp.yaml:1:3: error: add one or more resources";
        assert_eq!(see_all_problems(whole, "bp.yaml"), None);
        assert_eq!(see_all_problems("", "bp.yaml"), None);
    }

    #[test]
    fn a_missing_rollout_or_group_says_where_to_look() {
        let err = rollout_failed(
            rejected(Code::NotFound, "rollout r9 not found"),
            "cannot show rollout r9".into(),
        );
        assert!(err.to_string().contains("moorctl rollout list"), "{err}");
        let err = rollout_failed(
            rejected(Code::InvalidArgument, "bad"),
            "cannot start".into(),
        );
        assert_eq!(err.to_string(), "cannot start");
    }
}
