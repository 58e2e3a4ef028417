//! `moorctl audit list`: the audit log, one page or all of them (following
//! `next_after_seq`). A read: retried on any member.

use anyhow::Result;

use super::hints::{say_if_empty, CallContext};
use crate::cli::{AuditCommand, AuditListArgs, OutputFormat};
use crate::client::{AuditPage, Client};
use crate::views::audit::{AuditEntryView, AuditListView};
use crate::views::show;
use crate::views::time::now_ms;

pub(super) async fn run(
    command: AuditCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    let AuditCommand::List(a) = command;
    let view = list(&a, client).await?;
    say_if_empty(view.entries.is_empty(), format, "no audit entries match");
    if let (Some(next), false) = (view.next_after_seq, a.all_pages) {
        if format == OutputFormat::Table {
            eprintln!("moorctl: more entries match (after seq {next}); --all-pages lists them all");
        }
    }
    show(&view, format)
}

/// The entries `a` asks for: one page, or every page.
async fn list(a: &AuditListArgs, client: &mut Client) -> Result<AuditListView> {
    let since_ms = a
        .since
        .map_or(0, |d| now_ms().saturating_sub(d.as_millis() as u64).max(1));
    let mut page = AuditPage {
        since_ms,
        who: a.who.clone().unwrap_or_default(),
        operation: a.what.clone().unwrap_or_default(),
        after_seq: 0,
        limit: a.limit,
    };
    let mut entries = Vec::new();
    loop {
        let r = client
            .list_audit(page.clone())
            .await
            .or_say(|| "cannot read the audit log".into())?;
        entries.extend(r.entries.iter().map(AuditEntryView::from));
        match r.next_after_seq {
            // A member that answers the same cursor again would loop forever.
            Some(next) if a.all_pages && next > page.after_seq => page.after_seq = next,
            next => {
                return Ok(AuditListView {
                    entries,
                    next_after_seq: next.filter(|_| !a.all_pages),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{cli_for, serve, Mode, FAKE_AUDIT_ENTRIES};

    async fn listed(args: &[&str]) -> AuditListView {
        let m = serve(Mode::Ok, None).await;
        let cli = cli_for(&m.addr, args);
        let crate::cli::Command::Audit(AuditCommand::List(a)) = cli.command else {
            panic!("not audit list");
        };
        let mut client = crate::fake::client(
            std::slice::from_ref(&m.addr),
            std::time::Duration::from_secs(5),
        );
        list(&a, &mut client).await.unwrap()
    }

    #[tokio::test]
    async fn one_page_or_all_of_them() {
        let one = listed(&["audit", "list", "--limit", "100"]).await;
        assert_eq!(one.entries.len(), 100);
        assert_eq!(one.next_after_seq, Some(100));
        let all = listed(&["audit", "list", "--limit", "100", "--all-pages"]).await;
        assert_eq!(all.entries.len() as u64, FAKE_AUDIT_ENTRIES);
        assert_eq!(all.entries.last().unwrap().seq, FAKE_AUDIT_ENTRIES);
        assert_eq!(all.next_after_seq, None);
    }
}
