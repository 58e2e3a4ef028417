//! The map view in a real browser: Debian's `chromium`, headless, driven through its
//! `chromedriver` (WebDriver, with fantoccini) against real members and 200 sitesim sites.
//! `map_view.rs` checks the HTTP answers; this checks what a person sees once the page's
//! JavaScript has run, and what the browser itself does with cookies, origins and forms:
//!
//! - without a login every page sends the browser to the login form; a viewer token typed
//!   into it opens the map, whose script draws 200 sites (the summary, the legend's counts
//!   and the marks on the map, cells and dots, add up to 200) and connects its live stream;
//! - drift injected at one site turns that site's dot on the map and its line in the list
//!   to drifted, and the legend's counts, without a reload (the same document all along);
//!   the status filter then shows that site alone;
//! - a viewer gets no action buttons, and a pause it posts itself with its own CSRF token is
//!   refused naming the permission; after logging out (the button), a pause posted from the
//!   login page is refused too;
//! - an operator logs in through the form, follows the rollout list to a running rollout and
//!   clicks Pause: `RolloutApi` then reports the rollout paused. Before that, a form on
//!   another origin (a `data:` page) posting the same pause with the operator's valid CSRF
//!   token is refused: the browser withholds the `SameSite=Strict` cookie;
//! - the operator clicks Heal on the drifted site's page and lands on the heal's execution
//!   page, whose timeline draws a bar per attempt once it succeeded; the environment's page
//!   offers Heal and Roll back; the map shows the site in sync again;
//! - no page logs a script error or a failed load along the way (chromedriver's browser
//!   log), other than the refusals the test asks for.
//!
//! The environment page shows inputs as `GetEnvironment` answers them (secret inputs as
//! `***`): `secrets.rs` checks that a viewer's page holds no secret value.
//!
//! Screenshots (PNG) of the map, a site page, a rollout page, an execution page and an
//! environment page are written to
//! `$CARGO_TARGET_DIR/browser-artifacts/` (the test prints the path); `docs/screenshots/`
//! holds copies from a recent run. chromium and chromedriver are installed by
//! `scripts/setup.sh --browser`, which `make test` runs; when either is missing the test
//! fails and says how to install them.
//!
//! `map_page_render_time_at_100k_sites` (ignored, run by hand, see docs/BENCHMARKS.md)
//! registers 100,000 sites and prints how long the map page takes to draw them.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet};
use moor_jepsen_like_tests::harness::{free_port, MemberSettings};
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::workflow::{GetSiteRequest, Site};
use serde_json::{json, Value};

const SITES: usize = 200;
/// Installed on every site: one simulated resource, `page`.
const WEB: &str =
    "name: web\nresources:\n  - name: page\n    type: sim.resource\n    properties: { v: 1 }\n";

/// What to do when the browser is missing: the test fails with this, never skips.
const INSTALL: &str = "this test drives Debian's chromium through chromedriver: install both \
     with `scripts/setup.sh --browser` (which `make test` runs), i.e. \
     `apt-get install chromium chromium-driver`";

/// `name` on the PATH, else the first of `candidates` that exists; a panic that says how to
/// install it otherwise.
fn program(name: &str, candidates: &[&str]) -> PathBuf {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found: {INSTALL}"))
}

/// Where screenshots go: `<target dir>/browser-artifacts`.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // <target>/<profile>/deps/browser-<hash>
            let exe = std::env::current_exe().expect("current exe");
            exe.ancestors().nth(3).expect("a target dir").to_path_buf()
        });
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts dir");
    dir
}

/// A headless chromium behind its own chromedriver, pointed at one member. chromedriver
/// runs in its own process group, with the browser it starts: dropping this kills the group.
struct Browser {
    client: Option<Client>,
    driver: Child,
    base: String,
    artifacts: PathBuf,
    profile: tempfile::TempDir,
}

/// Debian's chromium and its chromedriver; a panic that says how to install them if either
/// is missing (checked before anything else starts).
struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Programs {
    fn find() -> Programs {
        Programs {
            chromium: program("chromium", &["/usr/lib/chromium/chromium"]),
            chromedriver: program("chromedriver", &["/usr/lib/chromium/chromedriver"]),
        }
    }
}

impl Browser {
    async fn start(programs: &Programs, member_addr: &str) -> Browser {
        let Programs {
            chromium,
            chromedriver,
        } = programs;
        let profile = tempfile::Builder::new()
            .prefix("moor-chromium-")
            .tempdir()
            .unwrap();
        let log = File::create(profile.path().join("chromedriver.log")).unwrap();
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}; {INSTALL}", chromedriver.display()));
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            // Each test cluster has its own development CA, which the browser cannot know.
            "acceptInsecureCerts": true,
            // Console messages and uncaught script errors, read by `Browser::errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // chromium refuses to run as root (CI) inside its sandbox.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-crash-reporter",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    "--window-size=1400,900",
                    // Numbers are written with toLocaleString: one locale for the checks.
                    "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
            },
        }))
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut browser = Browser {
            client: None,
            driver,
            base: format!("https://{member_addr}"),
            artifacts: artifacts_dir(),
            profile,
        };
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    browser.client = Some(c);
                    return browser;
                }
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "chromedriver on {url} gave no browser session within 60 s: {e}\n\
                         its log:\n{}",
                        browser.driver_log()
                    );
                    if let Ok(Some(status)) = browser.driver.try_wait() {
                        panic!(
                            "chromedriver exited ({status}): {}\n{INSTALL}",
                            browser.driver_log()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn driver_log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromedriver.log")).unwrap_or_default()
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a browser session")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn goto(&self, path: &str) {
        let url = self.url(path);
        self.client()
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current URL's path (no query, no fragment).
    async fn path(&self) -> String {
        self.client()
            .current_url()
            .await
            .unwrap()
            .path()
            .to_string()
    }

    /// Runs `script` (a function body: it `return`s its answer) in the page.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` every 100 ms until `accept` takes its answer, for at most `timeout`:
    /// the page changes on its own (fetches, server-sent events), so checks poll.
    async fn until<T>(
        &self,
        what: &str,
        timeout: Duration,
        script: &str,
        args: Vec<Value>,
        accept: impl Fn(&Value) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.js(script, args.clone()).await;
            if let Some(t) = accept(&seen) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?}; the page last showed {seen:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is at `path` (after a click that navigates).
    async fn until_at(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser stayed at {now}, not {path}: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's visible text.
    async fn text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    async fn click(&self, css: &str) {
        let found = self.client().find(Locator::Css(css)).await;
        let Ok(element) = found else {
            panic!("no {css} on {}: {}", self.path().await, self.text().await);
        };
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn has(&self, css: &str) -> bool {
        !self
            .client()
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Types `token` into the login form and submits it, as a person does.
    async fn login(&self, token: &str) {
        self.goto("/ui/login").await;
        self.client()
            .find(Locator::Css("input[name=token]"))
            .await
            .unwrap()
            .send_keys(token)
            .await
            .unwrap();
        self.click("form[action='/ui/login'] button[type=submit]")
            .await;
        self.until_at("/ui/").await;
    }

    /// The browser's errors since the last call: uncaught script errors, failed loads
    /// (an answer of 4xx or 5xx included), console errors.
    async fn errors(&self) -> Vec<String> {
        let log = self.client().issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves the window as `<artifacts>/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client().screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the browser it started share chromedriver's process group.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// chromedriver's browser log (the `goog:loggingPrefs` capability): what the browser
/// logged since the last read. Not in the W3C protocol, so not in fantoccini.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// What the map page shows now, read from its DOM: the summary line, the live indicator,
/// the notice, the legend's counts and colours by status, and the marks drawn on the map
/// (cells with their counts, from their tooltips, and dots: one site each).
const MAP_SEEN: &str = r#"
var seen = { summary: '', live: '', notice: '', legend: {}, colour: {}, cells: 0, dots: 0,
  sites: 0, list: 0, same_document: window.__moorSameDocument === true };
seen.summary = document.getElementById('summary').textContent;
seen.live = document.getElementById('live').textContent;
var notice = document.getElementById('notice');
seen.notice = notice.hidden ? '' : notice.textContent;
document.querySelectorAll('#legend [data-status]').forEach(function (li) {
  seen.legend[li.dataset.status] = li.querySelector('.count').textContent;
  seen.colour[li.dataset.status] = li.dataset.colour;
});
document.querySelectorAll('#marks g.cell > title').forEach(function (t) {
  seen.cells += 1;
  seen.sites += parseInt(t.textContent.split(' ')[0].replace(/[^0-9]/g, ''), 10);
});
seen.dots = document.querySelectorAll('#marks > a').length;
seen.sites += seen.dots;
seen.list = document.querySelectorAll('#list > li').length;
return seen;
"#;

/// One site's dot on the map and its line in the list (`arguments[0]`: its page's path).
const SITE_SEEN: &str = r#"
var href = arguments[0];
var dot = document.querySelector('#marks a[href="' + href + '"]');
var line = document.querySelector('#list a[href="' + href + '"] .sub');
if (!dot || !line) return null;
return { fill: dot.querySelector('circle').getAttribute('fill'),
  title: dot.querySelector('title').textContent, line: line.textContent,
  same_document: window.__moorSameDocument === true };
"#;

fn count(seen: &Value, status: &str) -> String {
    seen["legend"][status].as_str().unwrap_or("").to_string()
}

/// POSTs `action` of rollout `id` from the current page with `fetch` (same origin, the
/// page's cookies), with `csrf` as the form's token; the HTTP status and the answer's text.
async fn post_from_page(b: &Browser, id: &str, action: &str, csrf: &str) -> (u64, String) {
    let answer = b
        .client()
        .execute_async(
            r#"
var done = arguments[arguments.length - 1];
fetch('/ui/rollouts/' + encodeURIComponent(arguments[0]) + '/' + arguments[1], {
  method: 'POST', credentials: 'same-origin', redirect: 'manual',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: 'csrf=' + encodeURIComponent(arguments[2])
}).then(function (r) { return r.text().then(function (t) { done([r.status, t]); }); },
        function (e) { done([0, String(e)]); });
"#,
            vec![json!(id), json!(action), json!(csrf)],
        )
        .await
        .unwrap();
    (
        answer[0].as_u64().unwrap_or(0),
        answer[1].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_view_in_a_real_browser() {
    let started = Instant::now();
    let programs = Programs::find();
    let (fleet, sites) = fleet_with_web_installed().await;
    let (viewer, _) = fleet.token("viewer").await.unwrap();
    let (operator, _) = fleet.token("operator").await.unwrap();
    // A follower serves the pages: its reads are its own applied state, its writes are
    // forwarded to the leader.
    let member = fleet.cluster.running()[1];
    let b = Browser::start(&programs, fleet.cluster.addr(member)).await;
    println!("browser artifacts in {}", b.artifacts.display());

    let colours = a_viewer_logs_in_and_sees_every_site(&b, &viewer).await;
    drift_shows_without_a_reload(&fleet, &b, &sites[7], &colours).await;
    let id = start_a_slow_rollout(&fleet).await;
    a_viewer_or_nobody_cannot_pause(&fleet, &b, &id).await;
    an_operator_pauses_with_a_click(&fleet, &b, &operator, &id).await;
    a_heal_from_the_site_page_shows_on_the_map(&fleet, &b, &sites[7], &colours).await;
    a_bare_site_that_stops_answering_shows_unreachable(&fleet, &b, &colours).await;

    b.close().await;
    println!(
        "browser test: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// Three members, 200 sites answering in 150 ms, and `web` installed on every one of them.
/// (The latency keeps the rollout of [`start_a_slow_rollout`] running while the browser
/// logs in and finds it: 200 targets one at a time take a minute at least.)
async fn fleet_with_web_installed() -> (Fleet, Vec<String>) {
    let settings = MemberSettings {
        executor: vec!["drift_check_interval_ms = 500".into()],
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &["--latency-ms", "150"])
        .await
        .unwrap();
    let sites = fleet
        .install_on_new_sites("map", SITES, "web", WEB)
        .await
        .unwrap();
    (fleet, sites)
}

/// The legend's colours (from the page: the server's one list of them).
struct Colours {
    in_sync: String,
    drifted: String,
    unreachable: String,
}

/// Without a login the map sends the browser to the login form; a viewer token typed into
/// it opens the map, whose script draws all 200 sites and goes live.
async fn a_viewer_logs_in_and_sees_every_site(b: &Browser, viewer: &str) -> Colours {
    b.goto("/ui/").await;
    b.until_at("/ui/login").await;
    assert!(b.has("input[name=token][type=password]").await);

    b.login(viewer).await;
    let seen = b
        .until(
            "the map shows 200 sites, live",
            Duration::from_secs(20),
            MAP_SEEN,
            vec![],
            |s| {
                (s["summary"].as_str()?.starts_with("200 sites")
                    && count(s, "in_sync") == "200"
                    && s["sites"] == 200
                    && s["live"] == "live")
                    .then(|| s.clone())
            },
        )
        .await;
    assert_eq!(seen["notice"], "", "{seen:#}");
    assert!(
        seen["list"].as_u64().unwrap() > 0,
        "the list beside the map"
    );
    assert!(
        seen["cells"].as_u64().unwrap() + seen["dots"].as_u64().unwrap() > 1,
        "{seen:#}"
    );
    b.screenshot("map-200-sites").await;
    Colours {
        in_sync: seen["colour"]["in_sync"].as_str().unwrap().to_string(),
        drifted: seen["colour"]["drifted"].as_str().unwrap().to_string(),
        unreachable: seen["colour"]["unreachable"].as_str().unwrap().to_string(),
    }
}

/// Zoomed in on `victim` (the page keeps its view in the fragment), drift injected there
/// turns its dot and its line in the list to drifted, and the legend counts it, in the same
/// document: no reload. Then the victim's page shows the drifted resource.
async fn drift_shows_without_a_reload(fleet: &Fleet, b: &Browser, victim: &str, c: &Colours) {
    let href = format!("/ui/sites/{victim}");
    b.js(
        "window.__moorSameDocument = true; location.hash = arguments[0]; return null;",
        vec![json!(view_of(fleet, victim).await)],
    )
    .await;
    let dot = b
        .until(
            "the site's dot after zooming in",
            Duration::from_secs(10),
            SITE_SEEN,
            vec![json!(href)],
            |s| (!s.is_null()).then(|| s.clone()),
        )
        .await;
    assert_eq!(dot["fill"], c.in_sync.as_str(), "{dot:#}");

    fleet
        .inject_drift(victim, &format!("web-{victim}"), "page")
        .await
        .unwrap();
    let injected = Instant::now();
    let dot = b
        .until(
            "the site's dot turns to drifted",
            Duration::from_secs(30),
            SITE_SEEN,
            vec![json!(href)],
            |s| (s["fill"] == c.drifted.as_str()).then(|| s.clone()),
        )
        .await;
    println!(
        "drift on the map {:.1} s after it was injected",
        injected.elapsed().as_secs_f64()
    );
    assert_eq!(dot["same_document"], true, "no reload: {dot:#}");
    assert!(
        dot["title"].as_str().unwrap().ends_with("Drifted"),
        "{dot:#}"
    );
    assert!(
        dot["line"].as_str().unwrap().ends_with("Drifted"),
        "{dot:#}"
    );

    // Back to the whole world (the button): the legend counts one drifted site.
    b.click("#zoom-world").await;
    let seen = b
        .until(
            "the world view counts the drift",
            Duration::from_secs(10),
            MAP_SEEN,
            vec![],
            |s| {
                (count(s, "drifted") == "1" && count(s, "in_sync") == "199" && s["sites"] == 200)
                    .then(|| s.clone())
            },
        )
        .await;
    assert_eq!(seen["same_document"], true, "no reload: {seen:#}");
    b.screenshot("map").await;

    // The status filter keeps the drifted site alone, in the summary and in the list.
    b.client()
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("drifted")
        .await
        .unwrap();
    let seen = b
        .until(
            "the status filter leaves the drifted site",
            Duration::from_secs(10),
            MAP_SEEN,
            vec![],
            |s| (s["sites"] == 1).then(|| s.clone()),
        )
        .await;
    assert_eq!(seen["summary"], "1 site matches, 1 in view", "{seen:#}");
    assert!(b.has(&format!("#list a[href='{href}']")).await, "{seen:#}");
    b.click("#filters button[type=reset]").await;
    b.until(
        "all 200 sites again after Clear",
        Duration::from_secs(10),
        MAP_SEEN,
        vec![],
        |s| (s["summary"] == "200 sites, 200 in view").then_some(()),
    )
    .await;

    // The site's page: the drift per resource, and no heal button for a viewer.
    b.goto(&href).await;
    let text = b.text().await;
    assert!(text.contains("Drifted") && text.contains(victim), "{text}");
    assert!(
        !b.has("form[action$='/heal']").await,
        "a viewer cannot heal"
    );
    b.click("tr.resources summary").await;
    assert!(b.has("tr.drifted").await, "the drifted resource is marked");
    b.screenshot("site").await;
    let errors = b.errors().await;
    assert!(errors.is_empty(), "the pages logged errors: {errors:#?}");
}

/// A rollout that runs for a while (200 targets, one at a time, two steps each): its id.
async fn start_a_slow_rollout(fleet: &Fleet) -> String {
    fleet
        .apply_blueprint(&chain_blueprint("slow", 2, "1"))
        .await
        .unwrap();
    let id = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "map-sites".into(),
            action: "install".into(),
            blueprint: "slow".into(),
            max_parallel: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    fleet
        .wait_rollout(&id, Duration::from_secs(30), "running", |r| {
            r.state == "running"
        })
        .await
        .unwrap();
    id
}

/// A viewer sees the rollout without buttons, and a pause it posts itself (same origin,
/// its own CSRF token) is refused naming the permission. After logging out with the
/// button, a pause posted without a login is refused too. The rollout keeps running.
async fn a_viewer_or_nobody_cannot_pause(fleet: &Fleet, b: &Browser, id: &str) {
    b.goto(&format!("/ui/rollouts/{id}")).await;
    assert!(b.text().await.contains("running"));
    assert!(!b.has("form.action").await, "no buttons for a viewer");
    b.goto("/ui/").await;
    let csrf = b
        .js(
            "return document.querySelector('meta[name=csrf-token]').content;",
            vec![],
        )
        .await;
    let csrf = csrf.as_str().unwrap();
    let (status, body) = post_from_page(b, id, "pause", csrf).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("rollout.pause"),
        "names the permission: {body}"
    );

    b.click("form[action='/ui/logout'] button").await;
    b.until_at("/ui/login").await;
    let (status, body) = post_from_page(b, id, "pause", csrf).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(fleet.rollout_state(id).await.unwrap(), "running");
}

/// An operator logs in through the form and follows the rollout list to the rollout. A form
/// on another origin (a `data:` page) posting its pause with the operator's own valid CSRF
/// token is refused: the browser does not send the `SameSite=Strict` cookie with it, so the
/// post has no credential. The operator's own click on Pause pauses it, as `RolloutApi`
/// reports; then the operator sets its parallelism in the page's field. No page logged an
/// error.
async fn an_operator_pauses_with_a_click(fleet: &Fleet, b: &Browser, operator: &str, id: &str) {
    let page = format!("/ui/rollouts/{id}");
    b.login(operator).await;
    b.goto("/ui/rollouts").await;
    b.click(&format!("a[href='{page}']")).await;
    b.until_at(&page).await;
    let pause = format!("form[action='{page}/pause'] button");
    assert!(b.has(&pause).await, "a Pause button for an operator");
    b.screenshot("rollout").await;

    let csrf = b
        .js(
            "return document.querySelector('form.action input[name=csrf]').value;",
            vec![],
        )
        .await;
    let forged = format!(
        "data:text/html,<form method=post action='{}/pause'><input type=hidden name=csrf \
         value='{}'><button id=go>go</button></form>",
        b.url(&page),
        csrf.as_str().unwrap()
    );
    b.client().goto(&forged).await.unwrap();
    b.click("#go").await;
    b.until_at(&format!("{page}/pause")).await;
    let refused = b.text().await;
    assert_eq!(
        fleet.rollout_state(id).await.unwrap(),
        "running",
        "{refused}"
    );
    assert!(refused.contains("needs a credential"), "{refused}");

    b.goto(&page).await;
    let _expected = b.errors().await; // the refused posts' 403s
    b.click(&pause).await;
    b.until(
        "the page shows the rollout paused",
        Duration::from_secs(10),
        "return document.querySelector('h1 + .badge').textContent;",
        vec![],
        |s| (s == "paused").then_some(()),
    )
    .await;
    assert_eq!(fleet.rollout_state(id).await.unwrap(), "paused");
    assert!(b.has(&format!("form[action='{page}/resume']")).await);
    b.screenshot("rollout-paused").await;

    // The parallelism, typed into its field on the same page: the page comes back with the
    // new value (its attribute, not what was typed), as `RolloutApi` reports it.
    let parallel = format!("form[action='{page}/parallel']");
    let field = b
        .client()
        .find(Locator::Css(&format!(
            "{parallel} input[name=max_parallel]"
        )))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys("5").await.unwrap();
    b.click(&format!("{parallel} button")).await;
    b.until(
        "the page shows the new parallelism",
        Duration::from_secs(10),
        "return document.querySelector('input[name=max_parallel]').getAttribute('value');",
        vec![],
        |s| (s == "5").then_some(()),
    )
    .await;
    let r = fleet.rollout(id, "").await.unwrap().expect("the rollout");
    assert_eq!((r.max_parallel, r.state.as_str()), (5, "paused"));
    let errors = b.errors().await;
    assert!(errors.is_empty(), "the pages logged errors: {errors:#?}");
}

/// The operator (logged in) clicks Heal on the drifted site's page: the map then shows the
/// site in sync again, and the legend counts no drift.
async fn a_heal_from_the_site_page_shows_on_the_map(
    fleet: &Fleet,
    b: &Browser,
    victim: &str,
    c: &Colours,
) {
    let href = format!("/ui/sites/{victim}");
    b.goto(&href).await;
    b.click(&format!(
        "form[action='/ui/environments/web-{victim}/heal'] button"
    ))
    .await;
    // The heal's redirect is its execution's page: reloaded until the heal has ended, its
    // timeline has a bar per attempt.
    let exec_path = b
        .until(
            "the heal's execution page",
            Duration::from_secs(15),
            "return location.pathname;",
            vec![],
            |v| {
                v.as_str()
                    .filter(|p| p.starts_with("/ui/executions/"))
                    .map(str::to_string)
            },
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&exec_path).await;
        let state = b
            .js(
                "const e = document.querySelector('header .badge'); return e ? e.textContent : '';",
                vec![],
            )
            .await;
        if state == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the heal did not succeed within 30 s: {}",
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(b.has("table.timeline .bar").await, "{}", b.text().await);
    b.screenshot("execution").await;
    // The environment's page offers the operator heal and roll back.
    let env_path = format!("/ui/environments/web-{victim}");
    b.goto(&env_path).await;
    assert!(
        b.has(&format!("form[action='{env_path}/rollback'] button"))
            .await,
        "{}",
        b.text().await
    );
    b.screenshot("environment").await;
    b.goto(&format!("/ui/#{}", view_of(fleet, victim).await))
        .await;
    b.until(
        "the healed site's dot back in sync",
        Duration::from_secs(30),
        SITE_SEEN,
        vec![json!(href)],
        |s| (s["fill"] == c.in_sync.as_str()).then_some(()),
    )
    .await;
    b.until(
        "the legend counts no drift",
        Duration::from_secs(10),
        MAP_SEEN,
        vec![],
        |s| (count(s, "drifted").is_empty()).then_some(()),
    )
    .await;
    let errors = b.errors().await;
    assert!(errors.is_empty(), "the pages logged errors: {errors:#?}");
}

/// A site with no environments (so no drift check reaches it) stops answering: the leader's
/// reachability probes find out, and the map shows it unreachable without a reload; its
/// page says since when and why. Once it answers again the mark goes away by itself.
async fn a_bare_site_that_stops_answering_shows_unreachable(
    fleet: &Fleet,
    b: &Browser,
    c: &Colours,
) {
    let bare = "map-bare".to_string();
    fleet
        .put_sites(
            vec![Site {
                name: bare.clone(),
                region: "eu-north".into(),
                latitude: 60.17,
                longitude: 24.94,
                labels: [("fleet".to_string(), "bare".to_string())].into(),
                agent_endpoint: fleet.sim_addr().to_string(),
                ..Default::default()
            }],
            1,
        )
        .await
        .unwrap();
    fleet
        .set_unreachable(std::slice::from_ref(&bare), true)
        .await
        .unwrap();
    let href = format!("/ui/sites/{bare}");
    b.goto(&format!("/ui/#{}", view_of(fleet, &bare).await))
        .await;
    b.until(
        "the bare site's dot turns unreachable",
        Duration::from_secs(30),
        SITE_SEEN,
        vec![json!(href)],
        |s| (s["fill"] == c.unreachable.as_str()).then_some(()),
    )
    .await;
    b.screenshot("map-unreachable").await;
    b.goto(&href).await;
    let text = b.text().await;
    assert!(
        text.contains("Unreachable since") && text.contains("probes"),
        "{text}"
    );
    b.screenshot("site-unreachable").await;

    fleet
        .set_unreachable(std::slice::from_ref(&bare), false)
        .await
        .unwrap();
    b.goto(&format!("/ui/#{}", view_of(fleet, &bare).await))
        .await;
    b.until(
        "the bare site's dot answers again",
        Duration::from_secs(30),
        SITE_SEEN,
        vec![json!(href)],
        |s| (s.is_object() && s["fill"] != c.unreachable.as_str()).then_some(()),
    )
    .await;
    let errors = b.errors().await;
    assert!(errors.is_empty(), "the pages logged errors: {errors:#?}");
}

/// The map's fragment for a view zoomed in on `site` (zoom 8, centred on it).
async fn view_of(fleet: &Fleet, site: &str) -> String {
    let site = fleet
        .workflow(0)
        .get_site(GetSiteRequest {
            name: site.into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner();
    format!("zoom=8&lat={}&lon={}", site.latitude, site.longitude)
}

/// Waits (inside the page, checking once per frame) until the summary counts `expected`
/// sites, then answers: when that was (ms after the navigation started), the map API's
/// fetch as the browser timed it, and what was drawn.
const DRAWN_AT: &str = r#"
var expected = arguments[0];
var done = arguments[arguments.length - 1];
function check() {
  var summary = document.getElementById('summary').textContent;
  if (summary.indexOf(expected + ' sites') !== 0) { requestAnimationFrame(check); return; }
  var drawn = performance.now();
  var api = performance.getEntriesByType('resource')
    .filter(function (e) { return e.name.indexOf('/ui/api/map') >= 0; }).pop();
  done({ drawn_ms: drawn,
    api_start_ms: api ? api.startTime : -1, api_end_ms: api ? api.responseEnd : -1,
    api_bytes: api ? api.encodedBodySize : -1,
    cells: document.querySelectorAll('#marks g.cell').length,
    dots: document.querySelectorAll('#marks > a').length,
    list: document.querySelectorAll('#list > li').length, summary: summary });
}
check();
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The map page at 100,000 sites (`MOOR_BROWSER_SITES` to change): the time from opening
/// the page to the map drawn, in a real browser, at zooms 0, 3, 6 and 8 (the views of
/// `moor-dashboard`'s `map_bench`). Prints figures; asserts nothing about time.
///
///     MOOR_BIN_DIR=/var/tmp/moor-target/release cargo test -p moor-jepsen-like-tests \
///         --test browser -- --ignored --nocapture map_page_render_time
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "registers 100,000 sites (minutes): a benchmark run by hand, see docs/BENCHMARKS.md"]
async fn map_page_render_time_at_100k_sites() {
    let n: usize = std::env::var("MOOR_BROWSER_SITES")
        .ok()
        .map(|v| v.parse().expect("MOOR_BROWSER_SITES is a number"))
        .unwrap_or(100_000);
    const RUNS: usize = 7;
    let programs = Programs::find();
    let fleet = Fleet::start(3, MemberSettings::default(), &[])
        .await
        .unwrap();
    let synthetic = moor_dashboard::synthetic::synthetic_sites(n, 42);
    let sim = fleet.sim_addr().to_string();
    let sites = synthetic
        .iter()
        .map(|s| moor_proto::workflow::Site {
            name: s.name.clone(),
            region: s.region.clone(),
            latitude: s.lat,
            longitude: s.lon,
            labels: s.labels.clone().into_iter().collect(),
            agent_endpoint: sim.clone(),
            ..Default::default()
        })
        .collect();
    let registering = Instant::now();
    fleet.put_sites(sites, 256).await.unwrap();
    println!(
        "{n} sites registered in {:.1} s",
        registering.elapsed().as_secs_f64()
    );
    let (viewer, _) = fleet.token("viewer").await.unwrap();
    let b = Browser::start(&programs, fleet.cluster.addr(fleet.cluster.running()[1])).await;
    b.login(&viewer).await;
    let expected = format!("{n}")
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    println!("zoom | page opened → map drawn (median of {RUNS}) | map API fetch | drawing after the answer | API bytes | cells | dots | list");
    for zoom in [0u8, 3, 6, 8] {
        let (lat, lon) = if zoom == 0 {
            (0.0, 0.0)
        } else {
            (synthetic[0].lat, synthetic[0].lon)
        };
        let mut drawn = Vec::new();
        let mut fetch = Vec::new();
        let mut after = Vec::new();
        let mut last = Value::Null;
        for _ in 0..RUNS {
            b.client().goto("about:blank").await.unwrap();
            b.goto(&format!("/ui/#zoom={zoom}&lat={lat}&lon={lon}"))
                .await;
            let t = b
                .client()
                .execute_async(DRAWN_AT, vec![json!(expected)])
                .await
                .unwrap();
            let at = |k: &str| t[k].as_f64().unwrap();
            drawn.push(at("drawn_ms"));
            fetch.push(at("api_end_ms") - at("api_start_ms"));
            after.push(at("drawn_ms") - at("api_end_ms"));
            last = t;
        }
        println!(
            "{zoom} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} | {} | {}",
            median(drawn),
            median(fetch),
            median(after),
            last["api_bytes"],
            last["cells"],
            last["dots"],
            last["list"]
        );
        if zoom == 0 {
            b.screenshot("map-100k-sites").await;
        }
    }
    b.close().await;
}
