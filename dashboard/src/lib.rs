//! The pure parts of Moor's map view: given the sites (copied out of the replicated state),
//! answer "what does the map show at this zoom and centre", and render the pages. No I/O, no
//! clock, no async: `node/` serves these functions under [`routes`] and feeds them its
//! state; this crate links no other Moor crate, so it builds and tests in seconds.
//!
//! One job per module:
//! - [`status`]: a site's worst environment status, its colour and legend label;
//! - [`project`]: the equirectangular projection, views and boxes in degrees;
//! - [`filter`]: which sites to show (region, label, status, text);
//! - [`aggregate`]: sites counted into grid cells, or listed as dots ([`cells`]);
//! - [`query`]: the map API's query string, parsed and written back;
//! - [`world`]: the embedded world outline and its SVG ([`world_svg`]);
//! - [`html`]: escaping, the map page's shell ([`page`]) and the site page ([`site_page`]);
//! - [`site`]: the plain data the caller hands in;
//! - [`rollout`]: the rollout pages (one rollout with its action buttons, the list);
//! - [`environment`]: the environment page and its live diff against the site;
//! - [`execution`]: the execution page with its step timeline;
//! - [`forms`]: the state-changing forms (POST, with the CSRF token), offered per caller;
//! - [`synthetic`]: made-up sites for tests, the benchmark and demos.
//!
//! # Why the server aggregates
//!
//! The map must stay usable with 100,000 sites. Sending every site to the browser would be
//! megabytes of JSON per refresh and tens of thousands of SVG elements, and it would be
//! re-sent on every live update. The member already holds every site in memory, so one
//! O(n) pass over them (a few milliseconds for 100,000; see `examples/map_bench.rs`) turns
//! them into at most about 1,200 grid cells for the current view, with counts per status:
//! an answer of tens of kilobytes, the same size at every zoom, bounded by
//! [`aggregate::MAX_ITEMS`] whatever the data. Where few sites are close together (one per
//! cell, or a handful at street-level zooms) they are listed individually so they can be
//! clicked. Filters run in the same pass, so a filtered map costs the same as the full one.
//!
//! # Why no tiles
//!
//! Moor runs air-gapped: nothing may be fetched from outside at run time, so no tile
//! server or CDN. Serving raster tiles ourselves would mean shipping a tile pyramid
//! (hundreds of megabytes for a useful depth) and a map library to show it. The map's job is
//! "which sites are red, and where", for which country outlines are enough: Natural Earth's
//! 1:110m polygons, simplified to about 50 KB, embedded in the binary and drawn as one SVG
//! path that the browser scales for every zoom.
//!
//! # Why plain JavaScript, with no build step
//!
//! The page's script (`assets/map.js`, a few hundred lines) does four things: draw JSON as
//! SVG, zoom and pan by changing the `viewBox`, apply filters, and re-fetch on a
//! server-sent `changed` event. The browser does all of that natively. A framework and a
//! bundler would add an npm toolchain to the build and a supply chain to audit, for an
//! offline product whose release is one Rust build; without them the script is embedded with
//! `include_str!`, reviewed like any other source file, and what is served is what is in
//! the repository.

pub mod aggregate;
pub mod environment;
pub mod execution;
pub mod filter;
pub mod forms;
pub mod html;
pub mod project;
pub mod query;
pub mod rollout;
pub mod site;
pub mod status;
pub mod synthetic;
pub mod world;

pub use aggregate::{cells, cells_with_limit, Cell, Dot, MapData};
pub use environment::{
    diff_page, environment_page, DiffView, EnvironmentView, FieldDiffRow, ResourceDiffRow,
    ENVIRONMENT_ACTIONS,
};
pub use execution::{
    execution_href, execution_page, AttemptView, ExecutionView, StepView, EXECUTION_ACTIONS,
};
pub use filter::Filter;
pub use forms::{Forms, CSRF_FIELD, PARALLEL_FIELD, ROLLOUT_ACTIONS, ROLLOUT_PARALLEL};
pub use html::{environment_href, escape_html, page, site_href, site_page, site_page_with};
pub use project::{BBox, Plane, View};
pub use query::{MapQuery, QueryError};
pub use rollout::{
    problem_page, rollout_page, rollouts_page, rollouts_page_with, Counts, FailureRow, RolloutRow,
    RolloutView, StartOffer, START_ACTIONS,
};
pub use site::{EnvRow, ExecRow, ResourceRow, SiteDot, SitePage};
pub use status::{Status, StatusCounts};
pub use world::world_svg;

/// The paths the map page uses, for the server that mounts these functions. The page reads
/// them from `data-` attributes, so changing one here changes the script's too.
pub mod routes {
    /// The map page ([`crate::page`]).
    pub const MAP_PAGE: &str = "/ui/";
    /// The map's data: `GET` with a [`crate::MapQuery`] string, answers [`crate::MapData`]
    /// as JSON.
    pub const MAP_API: &str = "/ui/api/map";
    /// Server-sent events: an event named [`CHANGED_EVENT`] whenever sites or environments
    /// changed (no payload needed; the page re-fetches at most once a second).
    pub const EVENTS: &str = "/ui/events";
    /// The event name the page re-fetches on.
    pub const CHANGED_EVENT: &str = "changed";
    /// The world outline ([`crate::world_svg`]), as `image/svg+xml`; it never changes
    /// within a build, so it may be cached for long.
    pub const WORLD_SVG: &str = "/ui/assets/world.svg";
    /// Prefix of a site's page; the rest is the site name, percent-encoded
    /// ([`crate::site_href`]).
    pub const SITES: &str = "/ui/sites/";
    /// The list of rollouts (`GET`), and where its form starts one (`POST`).
    pub const ROLLOUT_LIST: &str = "/ui/rollouts";
    /// Prefix of a rollout's page (`/ui/rollouts/{id}`) and of its actions
    /// (`POST /ui/rollouts/{id}/{pause|resume|approve|cancel}`).
    pub const ROLLOUTS: &str = "/ui/rollouts/";
    /// Forgets the page cookie (a POST with the CSRF token).
    pub const LOGOUT: &str = "/ui/logout";
    /// Prefix of an environment's page (`/ui/environments/{name}`), its diff against the
    /// site (`…/diff`) and its actions (`POST /ui/environments/{name}/{heal|rollback}`).
    pub const ENVIRONMENTS: &str = "/ui/environments/";
    /// Prefix of an execution's page (`/ui/executions/{id}`) and its actions
    /// (`POST /ui/executions/{id}/{resume|cancel}`).
    pub const EXECUTIONS: &str = "/ui/executions/";
}
