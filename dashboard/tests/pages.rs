//! The HTML pages and the world SVG: escaping everywhere, and what the map page's script needs.

use std::collections::BTreeMap;

use moor_dashboard::html::{MAP_CSS, MAP_JS};
use moor_dashboard::{
    escape_html, page, routes, site_page, world_svg, EnvRow, ExecRow, ResourceRow, SitePage, Status,
};

const EVIL: &str = "<script>alert('x')</script>";

fn evil_site() -> SitePage {
    SitePage {
        name: EVIL.to_string(),
        region: format!("{EVIL}\"region"),
        lat: 48.137,
        lon: 11.575,
        labels: BTreeMap::from([(EVIL.to_string(), format!("v{EVIL}"))]),
        environments: vec![EnvRow {
            name: format!("env{EVIL}"),
            blueprint: format!("bp{EVIL}"),
            revision: 7,
            status: Status::Drifted,
            phase: format!("healing{EVIL}"),
            resources: vec![
                ResourceRow {
                    name: format!("res{EVIL}"),
                    resource_type: format!("type{EVIL}"),
                    desired_digest: format!("sha256:{EVIL}"),
                    observed_digest: String::new(),
                    drifted: true,
                },
                ResourceRow {
                    name: "ok".into(),
                    resource_type: "k8s.service".into(),
                    desired_digest: "sha256:0123456789abcdef".into(),
                    observed_digest: "sha256:0123456789abcdef".into(),
                    drifted: false,
                },
            ],
        }],
        executions: vec![ExecRow {
            id: format!("ex{EVIL}"),
            kind: format!("heal{EVIL}"),
            state: format!("running{EVIL}"),
            created_ms: 1_700_000_000_000,
            steps_done: 2,
            steps_total: 5,
        }],
        unreachable: None,
    }
}

/// No `<script` appears in the page except where the page itself puts one.
fn assert_no_injected_script(html: &str, own_scripts: usize) {
    assert_eq!(
        html.matches("<script").count(),
        own_scripts,
        "an unescaped <script> in:\n{html}"
    );
    assert!(!html.contains("alert('x')"), "an unescaped quote");
}

#[test]
fn escape_html_handles_every_special_character() {
    assert_eq!(
        escape_html(EVIL),
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    );
    assert_eq!(escape_html("a\"b&c"), "a&quot;b&amp;c");
    assert_eq!(escape_html("nothing special"), "nothing special");
}

#[test]
fn the_site_page_escapes_every_field() {
    let html = site_page(&evil_site());
    assert_no_injected_script(&html, 0);
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("&quot;region"));
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<title>Site &lt;script&gt;"));
}

#[test]
fn the_site_page_shows_its_tables_and_links_back_to_the_map() {
    let html = site_page(&evil_site());
    assert!(html.contains(&format!(
        "href=\"{}#zoom=6&amp;lat=48.137&amp;lon=11.575\"",
        routes::MAP_PAGE
    )));
    assert!(html.contains("Environments (1)"));
    assert!(html.contains("Executions (1)"));
    assert!(html.contains("@7"));
    assert!(html.contains("2/5"));
    assert!(html.contains("2023-11-14 22:13:20"), "created time in UTC");
    assert!(html.contains("not observed"));
    assert!(html.contains("class=\"drifted\""));
    assert!(html.contains("(1 drifted)"));
    assert!(html.contains("title=\"sha256:0123456789abcdef\""));
    assert!(html.contains(Status::Drifted.colour()));

    let empty = site_page(&SitePage {
        name: "quiet".into(),
        region: "eu".into(),
        lat: 0.0,
        lon: 0.0,
        labels: BTreeMap::new(),
        environments: vec![],
        executions: vec![],
        unreachable: None,
    });
    assert!(empty.contains("No environments on this site."));
    assert!(empty.contains(Status::Empty.label()));
}

#[test]
fn an_unreachable_site_says_so_since_when_and_why_escaped() {
    let reachable = site_page(&evil_site());
    assert!(!reachable.contains("Unreachable since"));
    let page = SitePage {
        unreachable: Some((1_700_000_000_000, format!("connection refused {EVIL}"))),
        ..evil_site()
    };
    let html = site_page(&page);
    assert_no_injected_script(&html, 0);
    assert!(
        html.contains("Unreachable since 2023-11-14 22:13:20 UTC"),
        "{html}"
    );
    assert!(html.contains("connection refused &lt;script&gt;"), "{html}");
    // The badge is unreachable whatever the environments say (they were drifted).
    assert!(html.contains(Status::Unreachable.label()), "{html}");
    // What was last seen is still listed.
    assert!(html.contains("Environments (1)"));
}

#[test]
fn the_map_page_escapes_title_and_token() {
    let html = page(EVIL, Some("\"><script>alert('x')</script>"));
    assert_no_injected_script(&html, 1);
    assert!(html.contains("<title>&lt;script&gt;"));
    assert!(html.contains("<meta name=\"csrf-token\" content=\"&quot;&gt;&lt;script&gt;"));
    assert!(!page("Moor", None).contains("csrf-token"));
}

#[test]
fn the_map_page_carries_its_script_routes_and_legend() {
    let html = page("Moor sites", Some("tok123"));
    assert!(html.contains(MAP_JS) && html.contains(MAP_CSS));
    assert!(html.contains("<meta name=\"csrf-token\" content=\"tok123\">"));
    // The routes, in the data attributes the script reads.
    for (attr, path) in [
        ("data-api", routes::MAP_API),
        ("data-events", routes::EVENTS),
        ("data-world", routes::WORLD_SVG),
        ("data-sites", routes::SITES),
        ("data-changed", routes::CHANGED_EVENT),
    ] {
        assert!(html.contains(&format!("{attr}=\"{path}\"")), "{attr}");
    }
    assert_eq!(routes::MAP_API, "/ui/api/map");
    assert_eq!(routes::EVENTS, "/ui/events");
    // The script's live updates and the API query it builds.
    assert!(MAP_JS.contains("new EventSource(EVENTS)"));
    assert!(MAP_JS.contains("addEventListener(CHANGED, changed)"));
    assert!(MAP_JS.contains("API + '?' + queryString()"));
    for key in [
        "'zoom='", "'lat='", "'lon='", "'region'", "'label'", "'status'", "'text'",
    ] {
        assert!(MAP_JS.contains(key), "{key}");
    }
    // Texts from data go in as text, never as markup.
    assert!(!MAP_JS.contains("innerHTML"));
    // The legend and the status filter name every status with its colour.
    for s in Status::ALL {
        assert!(html.contains(&format!(
            "data-status=\"{}\" data-colour=\"{}\"",
            s.as_str(),
            s.colour()
        )));
        assert!(html.contains(&format!("<option value=\"{}\">", s.as_str())));
    }
    // Nothing from outside: no absolute URLs except the SVG namespace.
    for text in [html.as_str(), world_svg()] {
        let outside = text
            .match_indices("http")
            .filter(|(i, _)| !text[*i..].starts_with("http://www.w3.org/2000/svg"))
            .count();
        assert_eq!(outside, 0, "a URL to the outside");
    }
}

#[test]
fn the_world_svg_is_standalone_with_path_data() {
    let svg = world_svg();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("<path id=\"land\""));
    assert!(svg.contains(" d=\"M"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.len() > 20_000 && svg.len() < 200 * 1024,
        "{} bytes",
        svg.len()
    );
}

#[test]
fn the_site_page_offers_heal_only_when_allowed() {
    use moor_dashboard::{site_page_with, Forms};
    let forms = Forms {
        csrf: "tok\"".into(),
        allowed: vec!["heal".into()],
    };
    let html = site_page_with(&evil_site(), &forms);
    assert_no_injected_script(&html, 0);
    assert!(
        html.contains(
            "action=\"/ui/environments/env%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E/heal\""
        ),
        "{html}"
    );
    assert!(html.contains("name=\"csrf\" value=\"tok&quot;\""));
    assert!(!site_page(&evil_site()).contains("<form"));
    let viewer = Forms {
        csrf: "tok".into(),
        allowed: vec![],
    };
    assert!(!site_page_with(&evil_site(), &viewer).contains("<form"));
}
