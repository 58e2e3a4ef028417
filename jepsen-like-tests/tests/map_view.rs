//! The map view on real members over HTTP: pages need a credential (a login with a token
//! sets an HttpOnly, Secure, SameSite=Strict cookie), the map API counts 200 sites and
//! stays within its bounds, a drift injected at one site turns its status to drifted on the
//! map and the site page, the live event stream says `changed`, a member caps its streams
//! (503 past the cap), and bad input (unknown pages, a too long query, odd site names) is
//! refused cleanly. (The JavaScript itself is checked in a browser by hand, not here.)

use std::time::{Duration, Instant};

use moor_jepsen_like_tests::fleet::Fleet;
use moor_jepsen_like_tests::harness::{connect, MemberSettings};
use moor_jepsen_like_tests::webhook::HookClient;
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::CreateTokenRequest;
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::site::site_sim_admin_client::SiteSimAdminClient;
use moor_proto::site::InjectDriftRequest;

const SITES: usize = 200;

fn cookie_of(answer_head: &str) -> Option<String> {
    answer_head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_view_needs_a_login_counts_sites_and_goes_live() {
    let settings = MemberSettings {
        executor: vec!["drift_check_interval_ms = 300".into()],
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &[]).await.unwrap();
    let sites = fleet.register_sites("map", SITES, 32).await.unwrap();
    fleet
        .apply_blueprint("name: web\nresources:\n  - name: page\n    type: sim.resource\n    properties: { v: 1 }\n")
        .await
        .unwrap();
    fleet
        .put_group("map-sites", "sites", &[("fleet", "map")])
        .await
        .unwrap();
    let r = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "map-sites".into(),
            action: "install".into(),
            blueprint: "web".into(),
            max_parallel: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    fleet
        .wait_rollout(&r.id, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    let id = fleet.cluster.running()[0];
    let c = HookClient::new(fleet.cluster.addr(id), fleet.cluster.security()).unwrap();

    // No credential: every page sends the browser to the login page.
    for path in ["/ui/", "/ui/api/map", "/ui/sites/map-000001", "/ui/events"] {
        let a = c.get(path).await.unwrap();
        assert_eq!(a.status, 303, "{path}: {a:?}");
    }
    let bad = c
        .post(
            "/ui/login",
            &[(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            b"token=moor_nope_nope",
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 401, "{bad:?}");

    // A viewer token logs in.
    let token = AuthApiClient::new(
        connect(fleet.cluster.addr(id), fleet.cluster.security()).connect_lazy(),
    )
    .create_token(CreateTokenRequest {
        role: "viewer".into(),
        ttl_seconds: 3600,
        description: "map test".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .token;
    let login = c
        .get_until("/ui/login", &[], "</html>", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(login.status, 200);
    let form = format!("token={token}");
    let answer = c
        .post(
            "/ui/login",
            &[(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            form.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 303, "{answer:?}");
    let set = cookie_of(&answer.head).expect("a cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    let cookie = vec![(
        "Cookie".to_string(),
        set.split(';').next().unwrap().to_string(),
    )];

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
    let mut admin =
        SiteSimAdminClient::new(connect(fleet.sim_addr(), fleet.cluster.security()).connect_lazy());
    admin
        .inject_drift(InjectDriftRequest {
            site: victim.clone(),
            environment: format!("web-{victim}"),
            resource: "page".into(),
        })
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
