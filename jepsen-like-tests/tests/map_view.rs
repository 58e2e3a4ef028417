//! The map view on real members over HTTP: pages need a credential (a login with a token
//! sets an HttpOnly, Secure, SameSite=Strict cookie), the map API counts 200 sites and
//! stays within its bounds, a drift injected at one site turns its status to drifted on the
//! map and the site page, the live event stream says `changed`, a member caps its streams
//! (503 past the cap), and bad input (unknown pages, a too long query, odd site names) is
//! refused cleanly. What the page's JavaScript draws, and what a browser does with the
//! cookie and the forms, is checked in headless chromium by `browser.rs`.
//!
//! The actions: an operator starts, pauses, resumes, approves and cancels a rollout and heals
//! an environment from the pages, each visible to `moorctl`'s API and in the audit trail as the
//! operator's; a POST without the CSRF token, with another session's token, from another
//! origin, from a viewer or without a login is refused (403) and changes nothing, while a
//! form posted to another member than the one that rendered it is accepted (the CSRF key
//! comes from the cluster's secrets key file). The environment and execution pages show
//! the heal an operator started, with its timeline, and offer a viewer nothing.

use std::time::{Duration, Instant};

use moor_jepsen_like_tests::fleet::chain_blueprint;
use moor_jepsen_like_tests::fleet::Fleet;
use moor_jepsen_like_tests::harness::{connect, MemberSettings};
use moor_jepsen_like_tests::ui_session::{cookie_of, csrf_of, headers, location_of, login, FORM};
use moor_jepsen_like_tests::webhook::HookClient;
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::{ListAuditRequest, TokenInfo};
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::workflow::ListExecutionsRequest;

const SITES: usize = 200;
/// Installed on every site: one simulated resource, `page`.
const WEB: &str =
    "name: web\nresources:\n  - name: page\n    type: sim.resource\n    properties: { v: 1 }\n";

/// A token of `role`, made by the admin.
async fn token_of(fleet: &Fleet, role: &str) -> (String, TokenInfo) {
    fleet.token(role).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_view_needs_a_login_counts_sites_and_goes_live() {
    let settings = MemberSettings {
        executor: vec!["drift_check_interval_ms = 300".into()],
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &[]).await.unwrap();
    let sites = fleet
        .install_on_new_sites("map", SITES, "web", WEB)
        .await
        .unwrap();
    let id = fleet.cluster.running()[0];
    let c = HookClient::new(fleet.cluster.addr(id), fleet.cluster.security()).unwrap();

    // No credential: every page sends the browser to the login page.
    for path in ["/ui/", "/ui/api/map", "/ui/sites/map-000001", "/ui/events"] {
        let a = c.get(path).await.unwrap();
        assert_eq!(a.status, 303, "{path}: {a:?}");
    }
    let (bad, _) = login(&c, "moor_nope_nope").await;
    assert_eq!(bad.status, 401, "{bad:?}");

    // A login form without the login page's CSRF token is refused.
    let (viewer_token, _) = token_of(&fleet, "viewer").await;
    let forged = c
        .post(
            "/ui/login",
            &headers(&[FORM]),
            format!("token={viewer_token}").as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(cookie_of(&forged.head).is_none(), "{forged:?}");

    // A viewer token logs in.
    let (answer, pair) = login(&c, &viewer_token).await;
    assert_eq!(answer.status, 303, "{answer:?}");
    let set = cookie_of(&answer.head).expect("a cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    let cookie = vec![("Cookie".to_string(), pair)];

    // The map page and its data.
    let page = c.get_with("/ui/", &cookie).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("EventSource"), "the page goes live");
    let world = c.get_with("/ui/assets/world.svg", &cookie).await.unwrap();
    assert!(
        world.body.starts_with("<svg"),
        "{}",
        &world.body[..40.min(world.body.len())]
    );
    let map = |zoom: u8| {
        let c = &c;
        let cookie = cookie.clone();
        async move {
            let a = c
                .get_with(&format!("/ui/api/map?zoom={zoom}&lat=0&lon=0"), &cookie)
                .await
                .unwrap();
            assert_eq!(a.status, 200, "{a:?}");
            a.json()
        }
    };
    let m = map(0).await;
    assert_eq!(m["matched"], SITES, "{m}");
    assert_eq!(m["totals"]["in_sync"], SITES, "{m}");

    // Drift at one site: the map and its page show it without anyone asking Moor, and the
    // live stream (opened before) says `changed` again after its first event.
    let (status, mut stream) = c.open_stream("/ui/events", &cookie).await.unwrap();
    assert_eq!(status, 200);
    let second_event = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut seen = String::new();
        let mut buf = [0u8; 1024];
        while seen.matches("event: changed").count() < 2 {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    });
    let victim = &sites[7];
    fleet
        .inject_drift(victim, &format!("web-{victim}"), "page")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = map(0).await;
        if m["totals"]["drifted"] == 1 {
            assert_eq!(m["totals"]["in_sync"], SITES - 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the drift never reached the map: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = tokio::time::timeout(Duration::from_secs(10), second_event)
        .await
        .expect("a second `changed` event")
        .unwrap();
    assert!(seen.contains("data: "), "{seen}");
    let site = c
        .get_with(&format!("/ui/sites/{victim}"), &cookie)
        .await
        .unwrap();
    assert_eq!(site.status, 200);
    assert!(
        site.body.contains("drifted"),
        "the site page shows the drift"
    );

    // Bad input.
    assert_eq!(c.get_with("/ui/nope", &cookie).await.unwrap().status, 404);
    assert_eq!(
        c.get_with("/ui/sites/%3Cscript%3E", &cookie)
            .await
            .unwrap()
            .status,
        404
    );
    let long = format!("/ui/api/map?text={}", "a".repeat(5000));
    assert_eq!(c.get_with(&long, &cookie).await.unwrap().status, 400);
    assert_eq!(
        c.get_with("/ui/api/map?zoom=99", &cookie)
            .await
            .unwrap()
            .status,
        400
    );

    // At most 64 live streams per member: the next is told to come back later.
    let mut held = Vec::new();
    for _ in 0..64 {
        let (status, stream) = c.open_stream("/ui/events", &cookie).await.unwrap();
        assert_eq!(status, 200);
        held.push(stream);
    }
    let (status, _) = c.open_stream("/ui/events", &cookie).await.unwrap();
    assert_eq!(status, 503);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _s) = c.open_stream("/ui/events", &cookie).await.unwrap();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed streams never gave their slots back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rollout's state as the gRPC API reports it now.
async fn state_of(fleet: &Fleet, id: &str) -> String {
    fleet.rollout_state(id).await.unwrap()
}

/// The rollout's parallelism as the gRPC API reports it now.
async fn max_parallel_of(fleet: &Fleet, id: &str) -> u32 {
    let r = fleet.rollout(id, "").await.unwrap();
    r.expect("the rollout").max_parallel
}

/// The heal executions of `environment`, as the gRPC API lists them.
async fn heals_of(fleet: &Fleet, environment: &str) -> usize {
    fleet
        .workflow(0)
        .list_executions(ListExecutionsRequest {
            environment: environment.into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
        .executions
        .iter()
        .filter(|x| x.kind == "heal")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_from_the_pages_take_the_grpc_path_and_refuse_forgeries() {
    // Slow sites and one target at a time: the rollout stays in progress for the whole test
    // (20 targets × 2 steps × 300 ms after its first wave), and waits for approval first.
    let fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "300"])
        .await
        .unwrap();
    fleet.register_sites("act", 20, 8).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("slow", 2, "1"))
        .await
        .unwrap();
    fleet
        .put_group("act-sites", "sites", &[("fleet", "act")])
        .await
        .unwrap();
    let r = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "act-sites".into(),
            action: "install".into(),
            blueprint: "slow".into(),
            max_parallel: 1,
            waves: "1,100%".into(),
            require_approval: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = r.id.clone();
    fleet
        .wait_rollout(&id, Duration::from_secs(60), "waiting_approval", |r| {
            r.state == "waiting_approval"
        })
        .await
        .unwrap();

    // One member serves the pages and takes the forms; it need not be the leader: its
    // writes are forwarded.
    let member = fleet.cluster.running()[1];
    let c = HookClient::new(fleet.cluster.addr(member), fleet.cluster.security()).unwrap();
    let (operator_token, operator) = token_of(&fleet, "operator").await;
    let (viewer_token, _) = token_of(&fleet, "viewer").await;
    let (a, op_cookie) = login(&c, &operator_token).await;
    assert_eq!(a.status, 303, "{a:?}");
    let (a, viewer_cookie) = login(&c, &viewer_token).await;
    assert_eq!(a.status, 303, "{a:?}");
    let as_operator = headers(&[FORM, ("Cookie", &op_cookie)]);
    let as_viewer = headers(&[FORM, ("Cookie", &viewer_cookie)]);

    // The list links the rollout; its page offers the operator what fits its state.
    let list = c.get_with("/ui/rollouts", &as_operator).await.unwrap();
    assert_eq!(list.status, 200, "{list:?}");
    assert!(
        list.body.contains(&format!("href=\"/ui/rollouts/{id}\"")),
        "{}",
        list.body
    );
    let page_path = format!("/ui/rollouts/{id}");
    let page = c.get_with(&page_path, &as_operator).await.unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("waiting_approval") && page.body.contains("<progress"));
    assert!(page
        .body
        .contains(&format!("action=\"/ui/rollouts/{id}/approve\"")));
    let csrf = csrf_of(&page.body);
    let post = |action: &str, hdrs: Vec<(String, String)>, body: String| {
        let c = &c;
        let path = format!("/ui/rollouts/{id}/{action}");
        async move { c.post(&path, &hdrs, body.as_bytes()).await.unwrap() }
    };
    let with_csrf = format!("csrf={csrf}");

    // Forgeries change nothing: no token, another session's token, another origin, another
    // site's fetch.
    let a = post("approve", as_operator.clone(), String::new()).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("CSRF"), "{}", a.body);
    let viewer_page = c.get_with(&page_path, &as_viewer).await.unwrap();
    assert_eq!(viewer_page.status, 200);
    assert!(
        !viewer_page.body.contains("/approve\""),
        "no buttons for a viewer"
    );
    let a = post(
        "approve",
        as_operator.clone(),
        format!(
            "csrf={}",
            csrf_of(&c.get_with("/ui/", &as_viewer).await.unwrap().body)
        ),
    )
    .await;
    assert_eq!(a.status, 403, "another session's token: {a:?}");
    let mut cross = as_operator.clone();
    cross.push(("Origin".into(), "https://evil.example".into()));
    let a = post("approve", cross, with_csrf.clone()).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("another origin"), "{}", a.body);
    let mut cross = as_operator.clone();
    cross.push(("Sec-Fetch-Site".into(), "cross-site".into()));
    let a = post("approve", cross, with_csrf.clone()).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(state_of(&fleet, &id).await, "waiting_approval");

    // Approve, pause, resume: each visible through the gRPC API at once.
    let mut same = as_operator.clone();
    same.push(("Origin".into(), "https://moor".into()));
    same.push(("Sec-Fetch-Site".into(), "same-origin".into()));
    let a = post("approve", same, with_csrf.clone()).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert!(a.head.contains(&format!("/ui/rollouts/{id}")), "{}", a.head);
    assert_eq!(state_of(&fleet, &id).await, "running");
    let a = post("pause", as_operator.clone(), with_csrf.clone()).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(state_of(&fleet, &id).await, "paused");
    let page = c.get_with(&page_path, &as_operator).await.unwrap();
    assert!(page.body.contains("/resume\"") && !page.body.contains("/pause\""));

    // A viewer, or nobody, cannot resume it, even with a valid token of its own session.
    let viewer_own = csrf_of(&c.get_with("/ui/", &as_viewer).await.unwrap().body);
    let a = post("resume", as_viewer.clone(), format!("csrf={viewer_own}")).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(
        a.body.contains("rollout.resume"),
        "names the permission: {}",
        a.body
    );
    let a = post("resume", headers(&[FORM]), with_csrf.clone()).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(state_of(&fleet, &id).await, "paused");

    // The form of one member's page posted to another member (a load balancer without
    // affinity): accepted, since every member derives its CSRF key from the cluster's
    // secrets key file.
    let other = fleet.cluster.running()[2];
    let c2 = HookClient::new(fleet.cluster.addr(other), fleet.cluster.security()).unwrap();
    let a = c2
        .post(
            &format!("/ui/rollouts/{id}/resume"),
            &as_operator,
            with_csrf.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(state_of(&fleet, &id).await, "running");

    // The parallelism, changed from the page while it runs: the operator sees a form with
    // today's value, a viewer none and is refused; a value that is no parallelism is
    // refused with what to give and changes nothing.
    let page = c.get_with(&page_path, &as_operator).await.unwrap();
    assert!(
        page.body
            .contains(&format!("action=\"/ui/rollouts/{id}/parallel\""))
            && page.body.contains("name=\"max_parallel\" min=\"1\""),
        "{}",
        page.body
    );
    let viewer_page = c.get_with(&page_path, &as_viewer).await.unwrap();
    assert!(
        !viewer_page.body.contains("/parallel\""),
        "no form for a viewer"
    );
    let a = post(
        "parallel",
        as_viewer.clone(),
        format!("csrf={viewer_own}&max_parallel=20"),
    )
    .await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("rollout.set_parallel"), "{}", a.body);
    for (bad, says) in [
        ("max_parallel=many", "whole number"),
        ("max_parallel=0", "at least 1"),
        ("max_parallel=-3", "at least 1"),
        ("max_parallel=99999999999", "more than"),
        ("", "give the new parallelism"),
    ] {
        let a = post(
            "parallel",
            as_operator.clone(),
            format!("{with_csrf}&{bad}"),
        )
        .await;
        assert_eq!(a.status, 400, "{bad}: {a:?}");
        assert!(a.body.contains(says), "{bad}: {}", a.body);
    }
    let a = post("parallel", as_operator.clone(), "max_parallel=20".into()).await;
    assert_eq!(a.status, 403, "no CSRF token: {a:?}");
    assert_eq!(max_parallel_of(&fleet, &id).await, 1);
    let a = post(
        "parallel",
        as_operator.clone(),
        format!("{with_csrf}&max_parallel=20"),
    )
    .await;
    assert_eq!(a.status, 303, "{a:?}");
    assert!(a.head.contains(&format!("/ui/rollouts/{id}")), "{}", a.head);
    assert_eq!(max_parallel_of(&fleet, &id).await, 20);
    let page = c.get_with(&page_path, &as_operator).await.unwrap();
    assert!(page.body.contains("value=\"20\""), "{}", page.body);

    // The audit trail names the operator, as for a gRPC call.
    let audit = AuthApiClient::new(
        connect(fleet.cluster.addr(member), fleet.cluster.security()).connect_lazy(),
    )
    .list_audit(ListAuditRequest {
        who: operator.id.clone(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .entries;
    for op in [
        "rollout.approve",
        "rollout.pause",
        "rollout.resume",
        "rollout.set_parallel",
    ] {
        assert!(
            audit.iter().any(|e| e.operation == op && e.outcome == "ok"),
            "{op} by {} missing from {audit:?}",
            operator.id
        );
    }

    // Unknown rollouts.
    assert_eq!(
        c.get_with("/ui/rollouts/nope", &as_operator)
            .await
            .unwrap()
            .status,
        404
    );
    let a = c
        .post(
            "/ui/rollouts/nope/pause",
            &as_operator,
            with_csrf.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 404, "{a:?}");

    // Heal from the site page: the environment of the first wave's target.
    let done = fleet.rollout(&id, "succeeded").await.unwrap().unwrap();
    let target = done.targets.first().expect("a succeeded target").clone();
    let site = c
        .get_with(&format!("/ui/sites/{}", target.site), &as_operator)
        .await
        .unwrap();
    assert_eq!(site.status, 200);
    let heal_path = format!("/ui/environments/{}/heal", target.environment);
    assert!(
        site.body.contains(&format!("action=\"{heal_path}\"")),
        "{}",
        site.body
    );
    let viewer_site = c
        .get_with(&format!("/ui/sites/{}", target.site), &as_viewer)
        .await
        .unwrap();
    assert!(
        !viewer_site.body.contains("/heal\""),
        "no heal button for a viewer"
    );
    let before = heals_of(&fleet, &target.environment).await;
    let a = c
        .post(
            &heal_path,
            &as_viewer,
            format!("csrf={viewer_own}").as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("execution.start"), "{}", a.body);
    let a = c.post(&heal_path, &as_operator, b"").await.unwrap();
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(heals_of(&fleet, &target.environment).await, before);
    let a = c
        .post(&heal_path, &as_operator, with_csrf.as_bytes())
        .await
        .unwrap();
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(heals_of(&fleet, &target.environment).await, before + 1);

    // The heal's redirect is its execution's page, with the timeline of its attempts.
    let exec_path = location_of(&a.head).expect("a redirect");
    assert!(exec_path.starts_with("/ui/executions/"), "{exec_path}");
    let x = c.get_with(&exec_path, &as_viewer).await.unwrap();
    assert_eq!(x.status, 200, "a viewer reads executions: {x:?}");
    assert!(x.body.contains("Timeline (") && x.body.contains("Steps ("));
    assert!(x.body.contains(&target.environment), "{}", x.body);
    assert!(
        !x.body.contains("<form class=\"action\""),
        "no action for a viewer"
    );

    // The environment's page lists the heal and offers heal and roll back to the operator,
    // nothing to the viewer; its diff asks the site.
    let env_path = format!("/ui/environments/{}", target.environment);
    let env = c.get_with(&env_path, &as_operator).await.unwrap();
    assert_eq!(env.status, 200, "{env:?}");
    let exec_id = exec_path.trim_start_matches("/ui/executions/");
    assert!(
        env.body
            .contains(&format!("href=\"/ui/executions/{exec_id}\"")),
        "{}",
        env.body
    );
    assert!(env.body.contains(&format!("action=\"{env_path}/heal\"")));
    assert!(env
        .body
        .contains(&format!("action=\"{env_path}/rollback\"")));
    let env = c.get_with(&env_path, &as_viewer).await.unwrap();
    assert_eq!(env.status, 200, "{env:?}");
    assert!(!env.body.contains("/heal\"") && !env.body.contains("/rollback\""));
    let diff = c
        .get_with(&format!("{env_path}/diff"), &as_viewer)
        .await
        .unwrap();
    assert_eq!(diff.status, 200, "{diff:?}");
    assert!(diff.body.contains("Asked of the site at"), "{}", diff.body);
    for missing in ["/ui/environments/nope", "/ui/executions/nope"] {
        let a = c.get_with(missing, &as_operator).await.unwrap();
        assert_eq!(a.status, 404, "{missing}: {a:?}");
    }
    // A viewer's forged rollback is refused by the gate, naming the permission.
    let a = c
        .post(
            &format!("{env_path}/rollback"),
            &as_viewer,
            format!("csrf={viewer_own}").as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("execution.rollback"), "{}", a.body);

    // Cancel ends it.
    let a = post("cancel", as_operator.clone(), with_csrf.clone()).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(state_of(&fleet, &id).await, "cancelled");
    let a = post("pause", as_operator.clone(), with_csrf.clone()).await;
    assert_eq!(a.status, 409, "a refusal of the domain is a page: {a:?}");

    // Oversized forms are refused before they are read whole.
    let big = format!("csrf={csrf}&pad={}", "x".repeat(10_000));
    let a = post("pause", as_operator.clone(), big).await;
    assert_eq!(a.status, 413, "{a:?}");

    // A rollout started from the list's form: offered to the operator, not to the viewer;
    // a bad number is refused naming the field, the server's own validation names its.
    let list = c.get_with("/ui/rollouts", &as_operator).await.unwrap();
    assert!(
        list.body.contains("action=\"/ui/rollouts\"") && list.body.contains("act-sites"),
        "{}",
        list.body
    );
    let viewer_list = c.get_with("/ui/rollouts", &as_viewer).await.unwrap();
    assert!(!viewer_list.body.contains("action=\"/ui/rollouts\""));
    fleet
        .apply_blueprint(&chain_blueprint("other", 1, "1"))
        .await
        .unwrap();
    let start = |extra: &str, who: &Vec<(String, String)>, csrf: &str| {
        let body = format!(
            "csrf={csrf}&group=act-sites&action=install&blueprint=other&revision=0&waves=1%2C100%25&inputs_json={extra}"
        );
        let (c, who) = (&c, who.clone());
        async move { c.post("/ui/rollouts", &who, body.as_bytes()).await.unwrap() }
    };
    let a = start("&max_parallel=abc", &as_operator, &csrf).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("max_parallel"), "{}", a.body);
    let a = start("&max_parallel=0", &as_operator, &csrf).await;
    assert_eq!(a.status, 400, "{a:?}");
    let a = start("&max_parallel=2", &as_viewer, &viewer_own).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("rollout.start"), "{}", a.body);
    let a = start("&max_parallel=2&require_approval=1", &as_operator, &csrf).await;
    assert_eq!(a.status, 303, "{a:?}");
    let started = location_of(&a.head).expect("a redirect");
    let new_id = started.trim_start_matches("/ui/rollouts/").to_string();
    assert_ne!(new_id, id);
    // Its first wave (one target) runs, then it waits: the form's approval box reached it.
    fleet
        .wait_rollout(&new_id, Duration::from_secs(60), "waiting_approval", |r| {
            r.state == "waiting_approval"
        })
        .await
        .unwrap();
    let a = c
        .post(
            &format!("{started}/cancel"),
            &as_operator,
            with_csrf.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(state_of(&fleet, &new_id).await, "cancelled");

    // Logout needs the session's token too, then forgets the cookie.
    let map = c.get_with("/ui/", &as_operator).await.unwrap();
    let a = c.post("/ui/logout", &as_operator, b"").await.unwrap();
    assert_eq!(a.status, 403, "{a:?}");
    let a = c
        .post(
            "/ui/logout",
            &as_operator,
            format!("csrf={}", csrf_of(&map.body)).as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 303, "{a:?}");
    assert!(cookie_of(&a.head).unwrap().contains("Max-Age=0"));
}
