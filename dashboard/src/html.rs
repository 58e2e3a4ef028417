//! Server-rendered HTML: escaping, the map page's shell, and the site page (the rollout
//! pages are in [`crate::rollout`], the forms in [`crate::forms`]).
//!
//! Pages are built with `format!`-style string pushing, no template engine: there are a few
//! small pages, and every piece of text that comes from data goes through [`escape_html`] (or
//! [`encode_component`] for a URL), so the one rule to check in review is "nothing is pushed
//! unescaped". The page's CSS and JavaScript are our own files, embedded at compile time.

use std::fmt::Write as _;

use crate::execution::push_execution_link;
use crate::forms::{heal_href, push_form, Forms};
use crate::query::encode_component;
use crate::routes;
use crate::site::{EnvRow, ExecRow, ResourceRow, SitePage};
use crate::status::Status;

/// The page's style sheet (map and site page), inlined into both.
pub const MAP_CSS: &str = include_str!("../assets/map.css");

/// The map page's script, inlined into it. Hand-written, no build step, no dependencies.
pub const MAP_JS: &str = include_str!("../assets/map.js");

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by character references: safe as HTML text
/// and inside a quoted attribute value.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// The link to a site's page: [`routes::SITES`] and the name, percent-encoded (so it is also
/// safe in an attribute as it is).
pub fn site_href(name: &str) -> String {
    format!("{}{}", routes::SITES, encode_component(name))
}

/// The link to an environment's page: [`routes::ENVIRONMENTS`] and the name,
/// percent-encoded.
pub fn environment_href(name: &str) -> String {
    format!("{}{}", routes::ENVIRONMENTS, encode_component(name))
}

/// The map page: an HTML shell whose script fetches [`routes::MAP_API`], draws the answer
/// over the outline from [`routes::WORLD_SVG`], and listens on [`routes::EVENTS`] (see
/// `assets/map.js`). `csrf_token`, when given, is put in `<meta name="csrf-token">` for the
/// forms that change state, and in the logout form.
pub fn page(title: &str, csrf_token: Option<&str>) -> String {
    let mut h = String::with_capacity(MAP_CSS.len() + MAP_JS.len() + 4096);
    head(&mut h, title);
    if let Some(token) = csrf_token {
        h.push_str("<meta name=\"csrf-token\" content=\"");
        push_escaped(&mut h, token);
        h.push_str("\">\n");
    }
    h.push_str("</head>\n");
    let _ = writeln!(
        h,
        "<body class=\"map-page\" data-api=\"{}\" data-events=\"{}\" data-world=\"{}\" data-sites=\"{}\" data-changed=\"{}\">",
        escape_html(routes::MAP_API),
        escape_html(routes::EVENTS),
        escape_html(routes::WORLD_SVG),
        escape_html(routes::SITES),
        escape_html(routes::CHANGED_EVENT),
    );
    h.push_str("<header><h1>");
    push_escaped(&mut h, title);
    let _ = write!(
        h,
        "</h1><span id=\"summary\" aria-live=\"polite\"></span>\
         <a href=\"{}\">Rollouts</a>\
         <span id=\"live\" class=\"live\">connecting…</span>",
        routes::ROLLOUT_LIST
    );
    if let Some(token) = csrf_token {
        push_form(&mut h, routes::LOGOUT, "Log out", token);
    }
    h.push_str("</header>\n");

    h.push_str(
        "<form id=\"filters\" autocomplete=\"off\">\n\
         <label>Region <select name=\"region\"><option value=\"\">any</option></select></label>\n\
         <label>Label <input name=\"label\" placeholder=\"key=value\" size=\"16\"></label>\n\
         <label>Status <select name=\"status\"><option value=\"\">any</option>",
    );
    for s in Status::ALL {
        let _ = write!(h, "<option value=\"{}\">{}</option>", s.as_str(), s.label());
    }
    h.push_str(
        "</select></label>\n\
         <label>Search <input name=\"text\" type=\"search\" placeholder=\"site name\" size=\"16\"></label>\n\
         <button type=\"reset\">Clear</button>\n</form>\n",
    );

    h.push_str(
        "<main>\n<div id=\"map-wrap\">\n\
         <svg id=\"map\" viewBox=\"0 0 3600 1800\" preserveAspectRatio=\"xMidYMid meet\" \
         tabindex=\"0\" role=\"img\" aria-label=\"Map of sites; drag to pan, wheel or + and - to zoom\">\
         <rect class=\"ocean\" x=\"0\" y=\"0\" width=\"3600\" height=\"1800\"/>\
         <g id=\"land\"></g><g id=\"marks\"></g></svg>\n\
         <div class=\"zoom\"><button type=\"button\" id=\"zoom-in\" title=\"Zoom in\">+</button>\
         <button type=\"button\" id=\"zoom-out\" title=\"Zoom out\">−</button>\
         <button type=\"button\" id=\"zoom-world\" title=\"Whole world\">⌂</button></div>\n\
         <p id=\"notice\" class=\"notice\" hidden></p>\n</div>\n<aside>\n<ul id=\"legend\">",
    );
    for s in Status::ALL {
        let _ = write!(
            h,
            "<li data-status=\"{name}\" data-colour=\"{colour}\" data-label=\"{label}\">\
             <span class=\"swatch\" style=\"background:{colour}\"></span>{label} \
             <span class=\"count\"></span></li>",
            name = s.as_str(),
            colour = s.colour(),
            label = s.label(),
        );
    }
    h.push_str(
        "</ul>\n<ol id=\"list\"></ol>\n</aside>\n</main>\n\
         <noscript><p class=\"notice\">The map needs JavaScript. Each site has a page at \
         /ui/sites/&lt;name&gt;.</p></noscript>\n<script>\n",
    );
    h.push_str(MAP_JS);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

/// One site's page: where it is, its labels, its environments with their resources'
/// digests, and its executions, as plain tables. Links back to the map, centred on the site.
pub fn site_page(site: &SitePage) -> String {
    site_page_with(site, &Forms::default())
}

/// The site page with the action forms `forms` allows: a heal button per environment.
pub fn site_page_with(site: &SitePage, forms: &Forms) -> String {
    let mut h = String::with_capacity(4096 + MAP_CSS.len());
    head(&mut h, &format!("Site {}", site.name));
    h.push_str("</head>\n<body class=\"site-page\">\n<header>");
    let back = if site.lat.is_finite() && site.lon.is_finite() {
        format!(
            "{}#zoom=6&lat={}&lon={}",
            routes::MAP_PAGE,
            site.lat,
            site.lon
        )
    } else {
        routes::MAP_PAGE.to_string()
    };
    let _ = write!(h, "<a href=\"{}\">← Map</a> <h1>", escape_html(&back));
    push_escaped(&mut h, &site.name);
    h.push_str("</h1> ");
    let status = if site.unreachable.is_some() {
        Status::Unreachable
    } else {
        Status::worst(site.environments.iter().map(|e| e.status))
    };
    status_badge(&mut h, status);
    h.push_str("</header>\n<main class=\"page\">\n");
    if let Some((since_ms, error)) = &site.unreachable {
        let _ = write!(
            h,
            "<p class=\"error-box\">Unreachable since {} UTC: the leader's drift checks (or, \
             with no environment to check, its probes) get no answer from this site, so \
             what is shown below is what was last seen there. The last error: \
             <span class=\"error-text\">",
            utc(*since_ms)
        );
        push_escaped(&mut h, error);
        h.push_str(
            "</span><br>Check that the site's agent runs and that this cluster can reach its \
             endpoint; the mark goes away by itself at the first check or step that gets an \
             answer.</p>\n",
        );
    }
    h.push_str("<dl class=\"facts\">\n<dt>Region</dt><dd>");
    push_escaped(&mut h, &site.region);
    let _ = write!(
        h,
        "</dd>\n<dt>Location</dt><dd>{}, {}</dd>\n<dt>Labels</dt><dd>",
        site.lat, site.lon
    );
    if site.labels.is_empty() {
        h.push_str("none");
    }
    for (k, v) in &site.labels {
        h.push_str("<span class=\"tag\">");
        push_escaped(&mut h, k);
        h.push('=');
        push_escaped(&mut h, v);
        h.push_str("</span> ");
    }
    h.push_str("</dd>\n</dl>\n");

    let _ = writeln!(h, "<h2>Environments ({})</h2>", site.environments.len());
    if site.environments.is_empty() {
        h.push_str("<p>No environments on this site.</p>\n");
    } else {
        environments(&mut h, &site.environments, forms);
    }

    let _ = writeln!(h, "<h2>Executions ({})</h2>", site.executions.len());
    if site.executions.is_empty() {
        h.push_str("<p>No executions.</p>\n");
    } else {
        executions(&mut h, &site.executions);
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

pub(crate) fn head(h: &mut String, title: &str) {
    h.push_str(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    push_escaped(h, title);
    h.push_str("</title>\n<style>\n");
    h.push_str(MAP_CSS);
    h.push_str("</style>\n");
}

pub(crate) fn status_badge(h: &mut String, s: Status) {
    let _ = write!(
        h,
        "<span class=\"badge\"><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
        s.colour(),
        s.label()
    );
}

fn environments(h: &mut String, envs: &[EnvRow], forms: &Forms) {
    let heal = forms.allows("heal");
    h.push_str(
        "<table>\n<thead><tr><th>Environment</th><th>Blueprint</th><th>Status</th>\
         <th>Resources</th></tr></thead>\n<tbody>\n",
    );
    for env in envs {
        let drifted = env.resources.iter().filter(|r| r.drifted).count();
        h.push_str("<tr><td><a href=\"");
        push_escaped(h, &environment_href(&env.name));
        h.push_str("\">");
        push_escaped(h, &env.name);
        h.push_str("</a></td><td>");
        push_escaped(h, &env.blueprint);
        let _ = write!(h, "@{}</td><td>", env.revision);
        status_badge(h, env.status);
        if !env.phase.is_empty() && env.phase != env.status.as_str() {
            h.push_str(" <span class=\"phase\">");
            push_escaped(h, &env.phase);
            h.push_str("</span>");
        }
        let _ = write!(h, "</td><td>{}", env.resources.len());
        if drifted > 0 {
            let _ = write!(h, " ({drifted} drifted)");
        }
        if heal {
            h.push(' ');
            push_form(h, &heal_href(&env.name), "Heal", &forms.csrf);
        }
        h.push_str("</td></tr>\n");
        if env.resources.is_empty() {
            continue;
        }
        h.push_str("<tr class=\"resources\"><td colspan=\"4\"><details><summary>Resources of ");
        push_escaped(h, &env.name);
        h.push_str("</summary>");
        resources_table(h, &env.resources);
        h.push_str("</details></td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
}

/// Resources with their desired and observed digests, drifted ones marked.
pub(crate) fn resources_table(h: &mut String, resources: &[ResourceRow]) {
    h.push_str(
        "<table>\n<thead><tr><th>Resource</th><th>Type</th><th>Desired</th><th>Observed</th>\
         <th>Drift</th></tr></thead>\n<tbody>\n",
    );
    for r in resources {
        h.push_str(if r.drifted {
            "<tr class=\"drifted\"><td>"
        } else {
            "<tr><td>"
        });
        push_escaped(h, &r.name);
        h.push_str("</td><td>");
        push_escaped(h, &r.resource_type);
        h.push_str("</td><td>");
        digest(h, &r.desired_digest);
        h.push_str("</td><td>");
        digest(h, &r.observed_digest);
        h.push_str(if r.drifted {
            "</td><td>drifted</td></tr>\n"
        } else {
            "</td><td>—</td></tr>\n"
        });
    }
    h.push_str("</tbody></table>\n");
}

/// A digest, shortened to 12 characters with the whole one as its tooltip.
fn digest(h: &mut String, d: &str) {
    if d.is_empty() {
        h.push_str("<span class=\"none\">not observed</span>");
        return;
    }
    let short: String = d.chars().take(12).collect();
    h.push_str("<code title=\"");
    push_escaped(h, d);
    h.push_str("\">");
    push_escaped(h, &short);
    if short.len() < d.len() {
        h.push('…');
    }
    h.push_str("</code>");
}

pub(crate) fn executions(h: &mut String, execs: &[ExecRow]) {
    h.push_str(
        "<table>\n<thead><tr><th>Execution</th><th>Kind</th><th>State</th><th>Created (UTC)</th>\
         <th>Steps</th></tr></thead>\n<tbody>\n",
    );
    for e in execs {
        h.push_str("<tr><td>");
        push_execution_link(h, &e.id);
        h.push_str("</td><td>");
        push_escaped(h, &e.kind);
        h.push_str("</td><td>");
        push_escaped(h, &e.state);
        let _ = writeln!(
            h,
            "</td><td>{}</td><td>{}/{}</td></tr>",
            utc(e.created_ms),
            e.steps_done,
            e.steps_total
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for milliseconds since the Unix epoch.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five() {
        assert_eq!(
            escape_html(r#"<script>alert("x&y")</script> it's"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; it&#39;s"
        );
        assert_eq!(escape_html("plain text, é ü 漢"), "plain text, é ü 漢");
        assert_eq!(escape_html(""), "");
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29 23:59:59");
        assert_eq!(utc(4_102_444_800_000), "2100-01-01 00:00:00");
    }

    #[test]
    fn site_links_are_encoded() {
        assert_eq!(site_href("store-1"), "/ui/sites/store-1");
        assert_eq!(site_href("a/b \"c\""), "/ui/sites/a%2Fb%20%22c%22");
    }
}
